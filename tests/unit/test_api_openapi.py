"""The OpenAPI document: every JSON route shows an example answer that its own response model accepts, and every
free-form query or path parameter shows an example value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from services.api.app import create_app
from services.api.examples import EXAMPLES
from smartcity.settings import InfluxSettings
from tests.support.api_support import api_settings


@pytest.fixture(scope="module")
def app_and_document(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any]]:
    tmp_path: Path = tmp_path_factory.mktemp("openapi")
    app = create_app(api_settings(tmp_path, InfluxSettings(url="http://127.0.0.1:9")))
    return app, app.openapi()


def _routes(routes: list[Any]) -> list[APIRoute]:
    """The app's API routes, through the routers it includes."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):  # an included router (FastAPI >= 0.16x)
            found += _routes(route.original_router.routes)
    return found


def test_every_json_route_has_an_example_its_response_model_accepts(app_and_document: tuple[Any, Any]) -> None:
    app, document = app_and_document
    routes = [r for r in _routes(app.routes) if r.response_model is not None and r.path != "/metrics"]
    assert len(routes) >= 20
    for route in routes:
        for method in sorted(route.methods or ()):
            operation = document["paths"][route.path][method.lower()]
            media = operation["responses"][str(route.status_code or 200)]["content"]["application/json"]
            example = media.get("example")
            assert example is not None, f"{method} {route.path}: no example answer"
            TypeAdapter(route.response_model).validate_python(example)  # raises, naming the field, when it lies


def test_every_example_belongs_to_a_route(app_and_document: tuple[Any, Any]) -> None:
    _app, document = app_and_document
    for method, path in EXAMPLES:
        assert method in document["paths"].get(path, {}), f"example for {method.upper()} {path}: no such route"


def _free_form(schema: dict[str, Any]) -> bool:
    """A string or number a caller must make up (not an enum, a boolean or a model they can read)."""
    options = schema.get("anyOf", [schema])
    kinds = {option.get("type") for option in options if "$ref" not in option and "enum" not in option}
    return bool(kinds & {"string", "number", "integer"})


def test_every_free_form_parameter_has_an_example(app_and_document: tuple[Any, Any]) -> None:
    _app, document = app_and_document
    missing = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] not in ("query", "path") or not _free_form(parameter["schema"]):
                    continue
                if "examples" not in parameter["schema"] and "example" not in parameter:
                    missing.append(f"{method.upper()} {path} {parameter['name']}")
    assert not missing, missing
