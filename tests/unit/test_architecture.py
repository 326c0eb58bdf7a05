"""The components share the core package and never import each other; the core imports no component."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ("devices", "gateway", "services", "grafana_view")


def _imported_top_levels(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("component", COMPONENTS)
def test_component_imports_no_other_component(component: str) -> None:
    others = set(COMPONENTS) - {component}
    offenders = {path: names & others for path, names in _imported_top_levels(component).items() if names & others}
    assert offenders == {}


def test_core_imports_no_component() -> None:
    offenders = {
        path: names & set(COMPONENTS)
        for path, names in _imported_top_levels("smartcity").items()
        if names & set(COMPONENTS)
    }
    assert offenders == {}


def test_every_package_is_importable_from_the_installed_distribution() -> None:
    import importlib

    for package in ("smartcity", *COMPONENTS):
        module = importlib.import_module(package)
        assert module.__file__ is not None
        assert Path(module.__file__).resolve().is_relative_to(ROOT)


def test_tests_and_shipped_code_never_import_the_benchmarks() -> None:
    # Benchmarks may use what the core and the tests' own support offer; nothing depends on a benchmark.
    for package in ("tests", "smartcity", *COMPONENTS):
        offenders = {path for path, names in _imported_top_levels(package).items() if "bench" in names}
        assert offenders == set(), package
