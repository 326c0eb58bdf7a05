"""The API's history at 1h and 1d answered from roll-ups equals the answer computed from raw points: first asked
before any roll-up exists (served from raw), then after the worker ran and the raw points were overwritten with
other values (so an answer that still matches came from the roll-ups), both checked against values computed here
from the points the test wrote. (InfluxDB 1.x's DELETE would remove the roll-ups too: it spans all policies.)"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from services.api.keys import Role
from services.api.settings import ApiSettings
from services.rollup.metrics import RollupMetrics
from services.rollup.tiers import TierClients, ensure_retention
from services.rollup.worker import RollupWorker, WorkerConfig
from smartcity.influx.client import InfluxClient
from smartcity.influx.lineprotocol import encode_point
from smartcity.rollups import HOUR, REWRITTEN, LocalDays, RollupPolicy, progress_line
from smartcity.settings import InfluxSettings
from tests.support.api_support import api_settings, auth, create_key, running
from tests.support.rollup_support import (
    expected_windows,
    hour,
    lines_of,
    pm25_points,
    readings,
    rollup_city,
    write_city,
)

DAYS = LocalDays(rollup_city().timezone)
DAY_START = DAYS.start_of(int(time.time() * 1000) - 2 * 86_400_000)
DAY_END = DAYS.day_of(DAY_START)[1]
POINTS = pm25_points(DAY_START)
ALL = POINTS["aq-n1"] + POINTS["aq-n2"]
START = DAY_START + 1_800_000  # half an hour in: the first hour is partial, answered from raw points


def _write(influx: InfluxSettings, body: bytes) -> None:
    with httpx.Client(base_url=influx.url, trust_env=False) as client:
        assert client.post("/write", params={"db": influx.database, "precision": "ms"}, content=body).status_code == 204


async def _write_async(influx: InfluxSettings, body: bytes) -> None:
    async with InfluxClient(influx) as client:
        await client.write(body)


def _want(agg: str, window_of: Callable[[int], int], start: int, scope: str) -> list[tuple[int, float]]:
    kept = [(ts, v) for ts, v in (ALL if scope == "district" else POINTS["aq-n1"]) if start <= ts < DAY_END]
    index = {"sum": 0, "count": 1, "min": 2, "max": 3}
    return [
        (w, s / c if agg == "mean" else (s, c, lo, hi)[index[agg]])
        for w, (s, c, lo, hi) in expected_windows(kept, window_of).items()
    ]


def _ask(client: TestClient, key: str, resolution: str, agg: str, start: int, scope: str) -> list[tuple[int, float]]:
    params = {"metric": "pm25", scope: SCOPES[scope], "resolution": resolution, "agg": agg}
    params |= {"start": str(start / 1000), "end": str(DAY_END / 1000)}
    response = client.get("/v1/history", params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    return [(int(datetime.fromisoformat(p["time"]).timestamp() * 1000), p["value"]) for p in response.json()["points"]]


async def _roll_up(influx_settings: InfluxSettings) -> None:
    config = WorkerConfig(120, 1_000, (int(time.time() * 1000) - DAY_START) // 3_600_000 + 1, 35, 86_400)
    async with InfluxClient(influx_settings) as influx, TierClients(influx_settings) as tiers:
        await ensure_retention(influx, RollupPolicy(), apply_raw=False)
        worker = RollupWorker(influx, tiers, DAYS, config, RollupMetrics())
        while True:
            await worker.cycle()
            if not worker.backlog:
                return


@pytest.fixture
def settings_and_key(tmp_path: Path, influx_settings: InfluxSettings) -> tuple[ApiSettings, str]:
    _write(influx_settings, lines_of(readings(POINTS, [])))
    settings = api_settings(tmp_path, influx_settings, city_file=write_city(tmp_path / "city.json"))
    return settings, create_key(settings, Role.PLANNER)


SCOPES = {"district": "north", "device": "aq-n1"}
"""A district combines its devices' roll-ups per window; a device at the tier's resolution reads its own."""
CASES: list[tuple[str, str, Callable[[int], int], int, str]] = [
    ("1h", agg, hour, START, scope) for agg in ("mean", "sum", "count", "min", "max") for scope in SCOPES
]
CASES += [("1d", agg, DAYS.start_of, DAY_START, scope) for agg in ("mean", "count", "max") for scope in SCOPES]


async def test_history_from_rollups_equals_history_from_raw(
    settings_and_key: tuple[ApiSettings, str], influx_settings: InfluxSettings
) -> None:
    settings, key = settings_and_key
    with running(settings) as client:
        from_raw = {(c[0], c[1], c[4]): _ask(client, key, c[0], c[1], c[3], c[4]) for c in CASES}
    await _roll_up(influx_settings)
    altered = {device: [(ts, v + 1000.0) for ts, v in points] for device, points in POINTS.items()}
    await _write_async(influx_settings, lines_of(readings(altered, [])))
    with running(settings) as client:
        for resolution, agg, window_of, start, scope in CASES:
            got = _ask(client, key, resolution, agg, start, scope)
            want = _want(agg, window_of, start, scope)
            if start != DAY_START:  # the partial first hour comes from raw points, which are altered now
                got, want = got[1:], want[1:]
                assert [t for t, _v in from_raw[resolution, agg, scope]][1:] == [t for t, _v in want]
            assert [t for t, _v in got] == [t for t, _v in want], (resolution, agg, scope)
            assert [v for _t, v in got] == pytest.approx([v for _t, v in want]), (resolution, agg, scope)
            if start == DAY_START:  # the whole answer from roll-ups equals the whole answer from raw points
                assert [t for t, _v in from_raw[resolution, agg, scope]] == [t for t, _v in got]
                assert [v for _t, v in from_raw[resolution, agg, scope]] == pytest.approx([v for _t, v in got])


def _rewrite_rollups(influx: InfluxSettings, device: str, add: float) -> int:
    """Add ``add`` to every hourly pm25 sum of ``device`` in place, as a redo would change it (no mark)."""
    rp = HOUR.retention_policy
    query = f'SELECT * FROM "{influx.database}"."{rp}"."air_quality" WHERE "device" = $d GROUP BY *'
    params = {"db": influx.database, "q": query, "params": json.dumps({"d": device}), "epoch": "ms"}
    with httpx.Client(base_url=influx.url, trust_env=False) as client:
        (series,) = client.get("/query", params=params).json()["results"][0]["series"]
        lines = []
        for row in series["values"]:
            given = zip(series["columns"], row, strict=True)
            # JSON gives 12.0 as 12: every roll-up field but the counts is a float
            fields = {c: v if c.endswith("_count") else float(v) for c, v in given if c != "time" and v is not None}
            fields["pm25_sum"] += add
            lines.append(encode_point("air_quality", series["tags"], fields, row[0]))
        answer = client.post(
            "/write", params={"db": influx.database, "rp": rp, "precision": "ms"}, content="\n".join(lines).encode()
        )
        assert answer.status_code == 204, answer.text
    return len(lines)


async def test_answers_from_rollups_are_kept_until_the_worker_redoes_a_window(
    settings_and_key: tuple[ApiSettings, str], influx_settings: InfluxSettings
) -> None:
    settings, key = settings_and_key
    settings = settings.model_copy(update={"rollup_watch_s": 0.1})
    await _roll_up(influx_settings)
    with running(settings) as client:
        first = _ask(client, key, "1h", "mean", DAY_START, "device")
        want = _want("mean", hour, DAY_START, "device")
        assert [t for t, _v in first] == [t for t, _v in want]
        assert [v for _t, v in first] == pytest.approx([v for _t, v in want])
        assert _rewrite_rollups(influx_settings, "aq-n1", 1000.0) == len(first)
        assert _ask(client, key, "1h", "mean", DAY_START, "device") == first  # kept: no redo was marked
        await _write_async(influx_settings, progress_line(REWRITTEN, int(time.time() * 1000)).encode())
        await asyncio.sleep(0.3)  # the watch reads progress again
        after = _ask(client, key, "1h", "mean", DAY_START, "device")
    with running(settings) as fresh:  # recomputed from the store: what a redone window holds
        assert after == _ask(fresh, key, "1h", "mean", DAY_START, "device")
    assert [t for t, _v in after] == [t for t, _v in first]
    assert all(v > w for (_t, v), (_s, w) in zip(after, first, strict=True))


async def test_a_history_past_the_closed_windows_keeps_its_rollups_and_reads_its_raw_tail_afresh(
    settings_and_key: tuple[ApiSettings, str], influx_settings: InfluxSettings
) -> None:
    settings, key = settings_and_key
    settings = settings.model_copy(update={"rollup_watch_s": 0.1, "history_fresh_s": 0.2})
    await _roll_up(influx_settings)
    tail_ms = int(time.time() * 1000) - 1_000  # after anything the worker completed
    params = {"metric": "pm25", "device": "aq-n1", "resolution": "1h", "agg": "mean"}
    params |= {"start": str(DAY_START / 1000), "end": str((tail_ms + 60_000) / 1000)}

    def ask(client: TestClient) -> list[float]:
        response = client.get("/v1/history", params=params, headers=auth(key))
        assert response.status_code == 200, response.text
        return [p["value"] for p in response.json()["points"]]

    with running(settings) as client:
        await _write_async(influx_settings, lines_of(readings({"aq-n1": [(tail_ms, 1.0)]}, [])))
        first = ask(client)
        assert first[-1] == 1.0
        as_csv = client.get("/v1/history", params=params | {"format": "csv"}, headers=auth(key))
        assert as_csv.status_code == 200, as_csv.text
        header, *rows = as_csv.text.splitlines()
        assert header == "time,value"
        assert [float(row.split(",")[1]) for row in rows] == pytest.approx(first)  # spliced the same way
        _rewrite_rollups(influx_settings, "aq-n1", 1000.0)
        await _write_async(influx_settings, lines_of(readings({"aq-n1": [(tail_ms, 3.0)]}, [])))
        assert ask(client) == first  # answered again as computed for history_fresh_s
        await asyncio.sleep(0.3)
        second = ask(client)
        assert second == [*first[:-1], 3.0]  # the closed windows as kept, the raw tail as it is now
        await _write_async(influx_settings, progress_line(REWRITTEN, int(time.time() * 1000)).encode())
        await asyncio.sleep(0.3)
        third = ask(client)
    assert third[-1] == 3.0
    assert all(v > w for v, w in zip(third[:-1], first[:-1], strict=True))
