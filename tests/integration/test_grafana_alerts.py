"""Every InfluxQL alert rule of the generated provisioning file, evaluated as Grafana evaluates it, against a real
influxd: query ``A`` with ``$timeFilter`` expanded to the rule's relative time range, then ``B`` (the last
numeric value of each series) and the condition ``C`` (``B > 0``), giving the alert instances that fire and
their labels. Each rule runs on a small data set written to fire it and on one that must stay quiet (just at
the threshold, above it only outside the window, recovered devices); with no data at all every rule is quiet,
which the rules turn into ``OK`` (``noDataState``)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest
import yaml  # type: ignore[import-untyped]

from grafana_view.alerts import LETTERS_PER_MINUTE, OFFLINE_PERCENT
from grafana_view.build import files
from grafana_view.queries import WHO_PM25_24H
from smartcity.city.directory import DeviceDirectory, DeviceInfo
from smartcity.city.generate import generate_city
from smartcity.city.model import DeviceType
from smartcity.contract.messages import DeadLetter
from smartcity.contract.metrics import METRICS
from smartcity.contract.reading import RejectReason
from smartcity.influx.lineprotocol import encode_point
from smartcity.influx.schema import dead_letter_point, device_health_point, device_tags
from smartcity.settings import InfluxSettings
from tests.support.grafana_expand import expand

CITY = generate_city(devices=200, seed=28)
"""200 devices (a 10 % share is 20 of them), air-quality sensors in three districts."""
DIRECTORY = DeviceDirectory.from_city(CITY)
RULES = {
    rule["uid"]: rule
    for group in yaml.safe_load(dict(files(CITY))["provisioning/alerting/smartcity-rules.yaml"])["groups"]
    for rule in group["rules"]
}
INFLUX_RULES = [uid for uid, rule in RULES.items() if rule["data"][0]["datasourceUid"] == "smartcity-influxdb"]
NOW_MS = 1_780_000_000_000
"""Grafana's "now" at evaluation (a fixed instant: every data set is written relative to it)."""
MINUTE = 60_000

Labels = frozenset[tuple[str, str]]


def _write(settings: InfluxSettings, lines: list[str]) -> None:
    with httpx.Client(base_url=settings.url, trust_env=False, timeout=30.0) as client:
        answer = client.post("/write", params={"db": settings.database, "precision": "ms"}, content="\n".join(lines))
    assert answer.status_code == 204, answer.text


def evaluate(settings: InfluxSettings, uid: str) -> dict[Labels, float]:
    """The alert instances rule ``uid`` fires at :data:`NOW_MS` (labels -> the value of ``B``)."""
    rule = RULES[uid]
    steps = {step["refId"]: step for step in rule["data"]}
    query, window = steps["A"], steps["A"]["relativeTimeRange"]
    start, end = NOW_MS - window["from"] * 1000, NOW_MS - window["to"] * 1000
    statement = expand(query["model"]["query"], {}, start_ms=start, end_ms=end, interval=1_000)
    with httpx.Client(base_url=settings.url, trust_env=False, timeout=30.0) as client:
        answer = client.post("/query", data={"q": statement, "db": settings.database, "epoch": "ms"})
    answer.raise_for_status()
    result = answer.json()["results"][0]
    assert "error" not in result, f"{rule['title']}: InfluxDB refused {statement}: {result['error']}"
    reduce, threshold = steps["B"]["model"], steps["C"]["model"]
    assert (reduce["type"], reduce["reducer"], reduce["expression"]) == ("reduce", "last", "A")
    evaluator = threshold["conditions"][0]["evaluator"]
    assert (threshold["type"], threshold["expression"], evaluator) == ("threshold", "B", {"type": "gt", "params": [0]})
    assert rule["condition"] == "C"
    firing = {}
    for series in result.get("series", []):
        assert len(series["columns"]) == 2, (rule["title"], series["columns"])  # time and one value: one number
        numbers = [row[1] for row in series["values"] if isinstance(row[1], int | float)]
        if numbers and numbers[-1] > 0:
            firing[frozenset(series.get("tags", {}).items())] = float(numbers[-1])
    return firing


def _of_type(kind: DeviceType) -> Iterator[DeviceInfo]:
    return (info for info in DIRECTORY if info.device_type is kind)


def _pm25_lines(values_by_district: dict[str, list[tuple[int, float]]]) -> list[str]:
    """Readings of each district's air-quality sensors: (minutes before now, value)."""
    measurement = METRICS["pm25"].measurement
    sensors = {info.district_id: info for info in _of_type(DeviceType.AIR_QUALITY)}
    lines = []
    for district, readings in values_by_district.items():
        for minutes, value in readings:
            tags = device_tags(sensors[district])
            lines.append(encode_point(measurement, tags, {"pm25": value}, NOW_MS - minutes * MINUTE))
    return lines


def _districts_with_air_sensors() -> list[str]:
    return sorted({info.district_id for info in _of_type(DeviceType.AIR_QUALITY)})


def test_every_rule_is_quiet_without_data(influx_settings: InfluxSettings) -> None:
    assert len(INFLUX_RULES) == 3
    for uid in INFLUX_RULES:
        assert evaluate(influx_settings, uid) == {}, uid


def test_pm25_fires_per_district_whose_last_hour_is_above_the_guideline(influx_settings: InfluxSettings) -> None:
    dirty, clean = _districts_with_air_sensors()[:2]
    _write(
        influx_settings,
        _pm25_lines(
            {
                dirty: [(minutes, 18.0 + minutes % 5) for minutes in range(0, 60, 2)],
                clean: [(minutes, 9.0) for minutes in range(0, 60, 2)],
            }
        ),
    )
    firing = evaluate(influx_settings, "smartcity-pm25-above-who")
    assert set(firing) == {frozenset({("district", dirty)})}
    assert firing[frozenset({("district", dirty)})] == pytest.approx(20.0)


def test_pm25_stays_quiet_at_the_guideline_for_a_spike_and_for_an_older_hour(influx_settings: InfluxSettings) -> None:
    at, spike, earlier = _districts_with_air_sensors()[:3]
    _write(
        influx_settings,
        _pm25_lines(
            {
                at: [(minutes, WHO_PM25_24H) for minutes in range(0, 60, 2)],  # equal is not above
                spike: [(minutes, 60.0 if minutes == 10 else 10.0) for minutes in range(0, 60, 2)],
                earlier: [(minutes, 40.0 if minutes > 61 else 12.0) for minutes in range(0, 180, 2)],
            }
        ),
    )
    assert evaluate(influx_settings, "smartcity-pm25-above-who") == {}


def _status_lines(statuses: dict[DeviceInfo, list[tuple[str, int, bool]]]) -> list[str]:
    """Each device's ``device_health`` points: (replica, minutes before now, online)."""
    lines = []
    for info, points in statuses.items():
        for replica, minutes, online in points:
            ts = NOW_MS - minutes * MINUTE
            fields = {"online": online, "status_ms": ts, "last_seen_ms": ts}
            lines.append(device_health_point(info, replica=replica, fields=fields, ts_ms=ts))
    return lines


def _devices_for_share(percent: float) -> int:
    return int(len(CITY.devices) * percent / 100)


def test_devices_offline_fires_above_the_share(influx_settings: InfluxSettings) -> None:
    devices = list(DIRECTORY)
    offline = _devices_for_share(OFFLINE_PERCENT) + 1
    statuses = {info: [("gw-a", 300, True), ("gw-a", 30, n >= offline)] for n, info in enumerate(devices)}
    _write(influx_settings, _status_lines(statuses))
    firing = evaluate(influx_settings, "smartcity-devices-offline")
    assert list(firing.values()) == [pytest.approx(offline / len(devices) * 100)]


def test_devices_offline_stays_quiet_at_the_share_and_for_devices_back_online(
    influx_settings: InfluxSettings,
) -> None:
    devices = list(DIRECTORY)
    offline = _devices_for_share(OFFLINE_PERCENT)
    assert offline / len(devices) * 100 == OFFLINE_PERCENT, "the city's size makes the share exact"
    statuses: dict[DeviceInfo, list[tuple[str, int, bool]]] = {}
    for n, info in enumerate(devices):
        if n < offline:
            statuses[info] = [("gw-a", 120, True), ("gw-a", 20, False)]
        elif n < 2 * offline:  # went offline, came back (through another replica)
            statuses[info] = [("gw-a", 60, False), ("gw-b", 10, True)]
        else:
            statuses[info] = [("gw-a", 90, True)]
    _write(influx_settings, _status_lines(statuses))
    assert evaluate(influx_settings, "smartcity-devices-offline") == {}


def _letter_lines(minutes_and_count: list[tuple[int, int]]) -> list[str]:
    """``count`` dead letters spread over the minute ``minutes`` before now, a few reasons and devices."""
    reasons = itertools.cycle([RejectReason.OUT_OF_RANGE, RejectReason.MALFORMED_JSON, RejectReason.UNKNOWN_DEVICE])
    devices = itertools.cycle(DIRECTORY)
    lines = []
    for minutes, count in minutes_and_count:
        for n in range(count):
            ts = NOW_MS - minutes * MINUTE - n * (MINUTE // max(count, 1))
            info = next(devices)
            letter = DeadLetter(
                reason=next(reasons),
                detail="pm25: 1200 above the maximum 1000",
                topic=f"city/v1/{info.device_id}/data",
                received_ms=ts,
                payload="{}",
                device_id=info.device_id,
                payload_bytes=2,
            )
            lines.append(dead_letter_point(letter, gateway="gw-a", known_device=True, ts_ms=ts))
    return lines


def test_dead_letters_fire_above_the_rate(influx_settings: InfluxSettings) -> None:
    per_minute = LETTERS_PER_MINUTE + 2
    _write(influx_settings, _letter_lines([(minute, per_minute) for minute in range(9)]))  # 9 of 10 minutes
    firing = evaluate(influx_settings, "smartcity-dead-letters")
    assert list(firing.values()) == [pytest.approx(per_minute * 9 / 10)]
    assert per_minute * 9 / 10 > LETTERS_PER_MINUTE


def test_dead_letters_stay_quiet_at_the_rate_and_for_an_older_burst(influx_settings: InfluxSettings) -> None:
    recent = [(minute, LETTERS_PER_MINUTE) for minute in range(10)]  # exactly the rate over the window
    burst = [(minute, 200) for minute in range(12, 20)]  # before the window
    _write(influx_settings, _letter_lines(recent + burst))
    assert evaluate(influx_settings, "smartcity-dead-letters") == {}
