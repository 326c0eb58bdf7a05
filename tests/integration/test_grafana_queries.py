"""Every InfluxQL query of every generated panel, expanded as Grafana expands it (tests/support/grafana_expand.py:
template variables single, multi-value and "All", ``$timeFilter``, ``$__interval``), runs against the real influxd
holding the filled city, its roll-ups and the gateway's own records (tests/support/grafana_city.py), and answers
rows of the shape the panel reads: the columns its SELECT names, the tags it groups by, the time grouping it asks
for. A refused or empty query fails with the dashboard's and the panel's title."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from grafana_view.build import files
from smartcity.localservices import InfluxdProcess
from tests.support.city_history import build_city
from tests.support.filled_city import DEFAULT_SPEC
from tests.support.grafana_city import GrafanaCity, load_grafana_city
from tests.support.grafana_expand import (
    Selection,
    duration_ms,
    expand,
    interval_ms,
    panel_range,
    referenced,
)

MAX_DATA_POINTS = 1_000
"""A panel about 1,000 pixels wide (Grafana asks for one point per pixel)."""
DATASOURCE_INTERVAL = "1m"
"""``timeInterval`` of the provisioned InfluxDB datasource: the smallest ``$__interval``."""
OPTIONS_TRIED = 12
"""Single values tried per variable (each must be accepted; one at least must show data)."""

CITY = build_city(DEFAULT_SPEC)
BOARDS = [json.loads(text) for path, text in files(CITY) if path.startswith("dashboards/")]
PANELS = [
    (board, panel)
    for board in BOARDS
    for panel in board["panels"]
    if any(target.get("datasource", {}).get("type") == "influxdb" for target in panel["targets"])
]


@pytest.fixture(scope="module")
def proof_city(influxd: InfluxdProcess) -> Iterator[GrafanaCity]:
    loaded = load_grafana_city(influxd.url)
    assert loaded.filled.city == CITY, "the panels were generated for the filled city's model"
    yield loaded
    _query(loaded, f'DROP DATABASE "{loaded.influx.database}"')


def _query(city: GrafanaCity, statement: str) -> dict[str, Any]:
    with httpx.Client(base_url=city.influx.url, trust_env=False, timeout=120.0) as client:
        answer = client.post("/query", data={"q": statement, "db": city.influx.database, "epoch": "ms"})
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()["results"][0]
    return result


def _now(city: GrafanaCity) -> int:
    """Grafana's "now": the end of the data set, moved back a few hours when it is just after local midnight (so
    "today so far" holds readings)."""
    end = city.filled.end_ms
    local = datetime.fromtimestamp(end / 1000, UTC).astimezone(ZoneInfo(city.filled.city.timezone))
    return end - 4 * 3_600_000 if local.hour < 3 else end


def _top_level(text: str, keyword: str) -> list[int]:
    """Positions of ``keyword`` outside parentheses and quotes."""
    depth, quote, found = 0, "", []
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and text.startswith(keyword, index):
            found.append(index)
    return found


def expected_columns(query: str) -> list[str]:
    """``time`` and the outer SELECT's column names (its ``AS`` aliases, else the function names)."""
    select = query[len("SELECT ") : _top_level(query, " FROM ")[0]]
    cuts = [-1, *_top_level(select, ","), len(select)]
    names = []
    for start, end in itertools.pairwise(cuts):
        item = select[start + 1 : end].strip()
        alias = re.search(r' AS "(\w+)"$', item)
        names.append(alias.group(1) if alias else item.split("(")[0].lower())
    return ["time", *names]


def grouping(query: str) -> tuple[list[str], str | None]:
    """Tags and time bucket of the outermost GROUP BY."""
    positions = _top_level(query, " GROUP BY ")
    if not positions:
        return [], None
    clause = query[positions[-1] + len(" GROUP BY ") :]
    bucket = re.search(r"time\((\w+)\)", clause)
    return re.findall(r'"(\w+)"', clause.split(" fill(")[0].split(" tz(")[0]), bucket.group(1) if bucket else None


def _options(city: GrafanaCity, board: dict[str, Any], fixed: dict[str, str]) -> dict[str, list[str]]:
    """Every variable's values as Grafana lists them: its query run with the variables before it set to "All",
    or for a single-value one to its ``fixed`` value (its first value by default)."""
    resolved: dict[str, list[str]] = {}
    selections: dict[str, Selection] = {}
    for variable in board["templating"].get("list", []):
        statement = expand(variable["query"], selections, start_ms=0, end_ms=0, interval=60_000)
        result = _query(city, statement)
        assert "error" not in result, (variable["name"], statement, result)
        values = sorted({row[1] for series in result.get("series", []) for row in series["values"]})
        assert values, f"variable {variable['name']} has no values: {statement}"
        resolved[variable["name"]] = values
        chosen = values if variable.get("multi") else [fixed.get(variable["name"], values[0])]
        selections[variable["name"]] = _selection(variable, chosen)
    return resolved


def _selection(variable: dict[str, Any], values: list[str]) -> Selection:
    return Selection(tuple(values), bool(variable.get("multi")), bool(variable.get("includeAll")))


class Combinations:
    """The variable settings a query is run with: every variable at "All" (a single-value one at each of its
    values in turn, the variables that depend on it listed anew); then, at the first single value that showed
    rows, each multi-value variable at one value and at two (one that showed rows and another), the others
    staying at "All"."""

    def __init__(self, city: GrafanaCity, board: dict[str, Any]) -> None:
        self.city, self.board = city, board
        self.variables = {v["name"]: v for v in board["templating"].get("list", [])}
        self.singles = [name for name, v in self.variables.items() if not v.get("multi")]
        self.fixed: dict[str, str] = {}
        self.options = _options(city, board, self.fixed)

    def base(self, chosen: dict[str, list[str]]) -> dict[str, Selection]:
        out = {}
        for name, variable in self.variables.items():
            values = chosen.get(name) or ([self.fixed[name]] if name in self.fixed else self.options[name])
            out[name] = _selection(variable, values)
        return out

    def everything(self) -> Iterator[tuple[dict[str, str], dict[str, Selection]]]:
        """(the single-value variables' values, selections); call :meth:`settle` with the one that showed rows."""
        columns = zip(*(self.options[name] for name in self.singles), strict=False)  # the first variable's values
        choices = [dict(zip(self.singles, values, strict=True)) for values in columns]
        for fixed in choices or [{}]:
            self.fixed, self.options = fixed, _options(self.city, self.board, fixed)
            yield fixed, self.base({})

    def settle(self, fixed: dict[str, str]) -> None:
        self.fixed, self.options = fixed, _options(self.city, self.board, fixed)

    def one(self, name: str) -> Iterator[tuple[str, dict[str, Selection]]]:
        for value in self.options[name][:OPTIONS_TRIED]:
            yield value, self.base({name: [value]})

    def two(self, name: str, shown: str) -> dict[str, Selection] | None:
        if not self.variables[name].get("multi") or len(self.options[name]) < 2:
            return None
        other = next(value for value in self.options[name] if value != shown)
        return self.base({name: [shown, other]})


def _check_shape(title: str, statement: str, result: dict[str, Any], interval: int, timezone: str) -> None:
    columns = expected_columns(statement)
    tags, bucket = grouping(statement)
    for series in result["series"]:
        assert series["columns"] == columns, (title, statement, series["columns"])
        assert set(tags) <= set(series.get("tags", {})), (title, statement, series.get("tags"))
        values = [row for row in series["values"] if any(v is not None for v in row[1:])]
        assert values, (title, statement, "a series without values")
        if bucket is not None:
            size = duration_ms(bucket)
            for row in values:
                if " tz(" in statement:
                    local = datetime.fromtimestamp(row[0] / 1000, UTC).astimezone(ZoneInfo(timezone))
                    assert (local.hour, local.minute) == (0, 0), (title, statement, row[0])
                else:
                    assert row[0] % size == 0, (title, statement, row[0], bucket)


@pytest.mark.parametrize(("board", "panel"), PANELS, ids=[f"{b['title']}: {p['title']}" for b, p in PANELS])
def test_panel_queries_answer_rows_of_the_panels_shape(
    proof_city: GrafanaCity, board: dict[str, Any], panel: dict[str, Any]
) -> None:
    title = f"{board['title']} / {panel['title']}"
    timezone = board["timezone"]
    start, end = panel_range(_now(proof_city), board["time"]["from"], panel.get("timeFrom"), timezone)
    interval = interval_ms(end - start, MAX_DATA_POINTS, panel.get("interval") or DATASOURCE_INTERVAL)
    combinations = Combinations(proof_city, board)
    defined = set(combinations.variables)
    for target in panel["targets"]:
        query = target["query"]
        assert set(referenced(query)) <= defined, (title, query)

        def run(label: str, selections: dict[str, Selection], query: str = query) -> bool:
            statement = expand(query, selections, start_ms=start, end_ms=end, interval=interval)
            result = _query(proof_city, statement)
            assert "error" not in result, f"{title} ({label}): InfluxDB refused {statement}: {result['error']}"
            if not result.get("series"):
                return False
            _check_shape(title, statement, result, interval, timezone)
            return True

        showing = [fixed for fixed, selections in combinations.everything() if run(f"all {fixed}", selections)]
        assert showing, f"{title}: no rows with every variable at All: {query}"
        combinations.settle(showing[0])
        for name in combinations.variables:
            if name in combinations.singles:
                continue
            shown = [value for value, selections in combinations.one(name) if run(f"{name}={value}", selections)]
            assert shown, f"{title}: no rows for any single {name}: {query}"
            pair = combinations.two(name, shown[0])
            if pair is not None:
                assert run(f"{name}: two values", pair), f"{title}: no rows for two {name} values: {query}"
