"""The city page's routes on the app (no InfluxDB behind it: none of them reads the store): the page and its files,
the favicon browsers ask for, which optional routes exist, and who the key's holder is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.api.keys import Role
from services.citypage.routes import STATIC, serves
from smartcity.settings import InfluxSettings
from tests.support.api_support import api_settings, auth, create_key, running

_NOWHERE = InfluxSettings(url="http://127.0.0.1:9")


def test_the_page_and_every_file_it_names_are_served(tmp_path: Path) -> None:
    with running(api_settings(tmp_path, _NOWHERE)) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        named = re.findall(r'(?:href|src)="(/page/[^"]+|/favicon.ico)"', page.text)
        assert len(named) == 3
        for path in named:
            assert client.get(path).status_code == 200, path
        modules = sorted(p.name for p in (STATIC / "js").glob("*.js"))
        for module in modules:
            answer = client.get(f"/page/static/js/{module}")
            assert answer.headers["content-type"].startswith("text/javascript"), module
        icon = client.get("/favicon.ico")
        assert (icon.headers["content-type"], icon.content[:4]) == ("image/svg+xml", b"<svg")
        assert client.get("/page/static/nope.js").status_code == 404
        assert "/" not in client.get("/openapi.json").json()["paths"]
        assert serves(client.app, "/v1/districts")  # type: ignore[arg-type]
        assert not serves(client.app, "/v1/nope")  # type: ignore[arg-type]


def test_config_names_the_optional_routes_and_the_keepalive(tmp_path: Path) -> None:
    with running(api_settings(tmp_path, _NOWHERE, stream_keepalive_s=7.5)) as client:
        served = serves(client.app, "/v1/quality")  # type: ignore[arg-type]
        assert client.get("/page/config.json").json() == {"routes": {"quality": served}, "stream_keepalive_s": 7.5}


@pytest.mark.parametrize(("role", "districts"), [(Role.PLANNER, ()), (Role.OPERATOR, ("south",))])
def test_whoami_answers_the_role_and_scope_of_the_key(tmp_path: Path, role: Role, districts: tuple[str, ...]) -> None:
    settings = api_settings(tmp_path, _NOWHERE)
    key = create_key(settings, role, districts)
    with running(settings) as client:
        assert client.get("/page/whoami").json() == {"role": "public", "districts": [], "department": None}
        mine = client.get("/page/whoami", headers=auth(key)).json()
        assert mine == {"role": role.value, "districts": list(districts), "department": None}
        refused = client.get("/page/whoami", headers=auth("sck_nope_nope"))
        assert (refused.status_code, refused.headers["content-type"]) == (401, "application/problem+json")
