"""``smartcity data status|expire`` against the real influxd: what each dataset holds per retention policy, its
retention and when its oldest point leaves; the expiry removes a person-related dataset's points older than its
own retention from every policy and nothing else; an unreachable InfluxDB is a clear error and exit code 1."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import typer
from typer.testing import CliRunner

from services.lifecycle.cli import register
from services.opendata.datasets import PERSON_RELATED_RETENTION_DAYS
from services.rollup.service import run
from services.rollup.settings import RollupSettings
from smartcity.contract.reading import Reading
from smartcity.settings import InfluxSettings
from tests.support.api_support import influxql, write_api_city, write_readings

DAY_MS = 86_400_000
NOW_MS = int(time.time() * 1000) // 60_000 * 60_000
OLD_MS = NOW_MS - (PERSON_RELATED_RETENTION_DAYS + 20) * DAY_MS


def _minute(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


def _cli(tmp_path: Path, influx: InfluxSettings, *args: str) -> tuple[int, str, str]:
    app = typer.Typer()
    register(app)
    env = {
        "SMARTCITY_ROLLUP_INFLUX__URL": influx.url,
        "SMARTCITY_ROLLUP_INFLUX__DATABASE": influx.database,
        "SMARTCITY_ROLLUP_CITY_FILE": str(write_api_city(tmp_path / "city.json")),
    }
    result = CliRunner().invoke(app, ["data", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def _setup(influx: InfluxSettings) -> None:
    db = influx.database
    write_readings(influx, [Reading("aq-n1", n, NOW_MS - (3 - n) * 3_600_000, {"pm25": 4.0}) for n in range(3)])
    for policy, duration in (("rp_1m", "93d"), ("rp_1h", "730d"), ("rp_1d", "INF")):
        answer = influxql(influx, f'CREATE RETENTION POLICY "{policy}" ON "{db}" DURATION {duration} REPLICATION 1')
        assert "error" not in answer.text, answer.text
    school = "occupancy,device=occ-1,facility_kind={kind} occupancy_count=4i,occupancy_sum=40 {ts}"
    lines = [school.format(kind="school", ts=ts) for ts in (OLD_MS, NOW_MS - 2 * DAY_MS)]
    lines += [school.format(kind="car_park", ts=OLD_MS)]  # car parks keep what rp_1d keeps: for ever
    with httpx.Client(base_url=influx.url, trust_env=False, timeout=30.0) as client:
        answer = client.post("/write", params={"db": db, "rp": "rp_1d", "precision": "ms"}, content="\n".join(lines))
        assert answer.status_code == 204, answer.text


def test_status_shows_what_each_dataset_holds_and_the_expiry_enforces_its_retention(
    tmp_path: Path, influx_settings: InfluxSettings
) -> None:
    _setup(influx_settings)
    code, out, err = _cli(tmp_path, influx_settings, "status")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["holding", "kind", "measurement", "policy"]
    air = next(line for line in lines if line.startswith("air-quality") and " autogen " in line)
    cells = air.split()
    assert cells[5:8] == [_minute(NOW_MS - 3 * 3_600_000), _minute(NOW_MS - 3_600_000), "363"]
    # 363: the city's three air-quality sensors over the two hours held, every 60 s (an estimate from the model)
    assert "for ever (retention policy)" in air  # autogen keeps for ever here
    school = next(line for line in lines if line.startswith("school-occupancy") and " rp_1d " in line)
    assert f"{PERSON_RELATED_RETENTION_DAYS} d (smartcity data expire)" in school
    assert school.endswith(" (due)")  # its oldest point is past the retention: the next expiry removes it
    cars = next(line for line in lines if line.startswith("car-parks") and " rp_1d " in line)
    assert "for ever (retention policy)" in cars

    code, out, err = _cli(tmp_path, influx_settings, "expire")
    assert code == 0, err
    db = influx_settings.database
    left = influxql(influx_settings, f'SELECT * FROM "{db}"."rp_1d"."occupancy"').json()
    kept = sorted((row[0], row[2]) for row in left["results"][0]["series"][0]["values"])
    columns = left["results"][0]["series"][0]["columns"]
    assert columns[2] == "facility_kind"
    assert kept == sorted([(OLD_MS, "car_park"), (NOW_MS - 2 * DAY_MS, "school")])
    still = influxql(influx_settings, 'SELECT count("pm25") FROM "air_quality"').json()
    assert still["results"][0]["series"][0]["values"][0][1] == 3


def test_status_against_an_unreachable_influxdb_is_an_error_with_exit_code_1(tmp_path: Path) -> None:
    gone = InfluxSettings(url="http://127.0.0.1:9", database="city")
    code, out, err = _cli(tmp_path, gone, "status")
    assert code == 1
    assert "error: InfluxDB at http://127.0.0.1:9 (database city) did not answer" in err
    assert out == ""
    code, out, err = _cli(tmp_path, gone, "expire")
    assert code == 1
    assert "error: InfluxDB" in err


async def test_the_rollup_worker_expires_what_a_dataset_no_longer_keeps(
    tmp_path: Path, influx_settings: InfluxSettings
) -> None:
    _setup(influx_settings)
    settings = RollupSettings(
        influx=influx_settings,
        city_file=write_api_city(tmp_path / "city.json"),
        state_dir=tmp_path / "rollup",
        http_port=0,
        interval_s=0.2,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop=stop))
    db = influx_settings.database
    deadline = time.monotonic() + 10
    while True:
        left = influxql(influx_settings, f'SELECT * FROM "{db}"."rp_1d"."occupancy" WHERE "facility_kind" = \'school\'')
        times = [row[0] for row in left.json()["results"][0]["series"][0]["values"]]
        if times == [NOW_MS - 2 * DAY_MS]:
            break
        assert time.monotonic() < deadline, times
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, 10)
    cars = influxql(influx_settings, f'SELECT * FROM "{db}"."rp_1d"."occupancy" WHERE "facility_kind" = \'car_park\'')
    assert [row[0] for row in cars.json()["results"][0]["series"][0]["values"]] == [OLD_MS]
