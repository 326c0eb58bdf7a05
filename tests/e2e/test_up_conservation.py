"""`smartcity up`, reduced in size, with faults injected: every reading the simulator sent is stored in InfluxDB or
dead-lettered, sequence gaps are the injected offline periods and nothing else, the API serves what InfluxDB
holds, and a restart on the same work directory adds to the data without sending the history again."""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from smartcity.contract.metrics import MEASUREMENTS
from smartcity.influx.schema import DEAD_LETTERS, DEVICE_HEALTH
from smartcity.localservices import InfluxdProcess
from smartcity.quality_truth import FaultKind, read_truth
from smartcity.up import UpSettings, platform

LIVE_S = 12.0
"""How long each run publishes live, after its back-fill."""


def _faults(truth: Path) -> list[str]:
    return [
        *("--fault", "spikes=0.02", "--fault", "duplicate=0.05", "--fault", "reorder=0.05"),
        *("--fault", "malformed=0.01", "--fault-rate", "offline=1", "--truth", str(truth)),
    ]


def _query(url: str, q: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
    query = {"db": "city", "q": q, "epoch": "ms"} | ({"params": json.dumps(params)} if params else {})
    response = httpx.get(f"{url}/query", params=query, timeout=30)
    response.raise_for_status()
    result = response.json()["results"][0]
    assert "error" not in result, result
    series: list[dict[str, Any]] = result.get("series", [])
    return series


def _stored(url: str) -> dict[str, list[tuple[int, int]]]:
    """(time ms, seq) of every stored reading, by device: a reading's points in its type's measurement and in
    ``device_vitals`` carry the same time and seq, so they count once."""
    out: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for series in _query(url, 'SELECT "seq" FROM /.*/ GROUP BY "device"'):
        if series["name"] in MEASUREMENTS:
            out[series["tags"]["device"]] |= {(int(t), int(seq)) for t, seq in series["values"]}
    return {device: sorted(points) for device, points in out.items()}


def _dead_letters(url: str) -> dict[str, int]:
    series = _query(url, f'SELECT count("rejections") FROM "{DEAD_LETTERS}" GROUP BY "reason"')
    return {s["tags"]["reason"]: int(s["values"][0][1]) for s in series}


def _health_gaps(url: str) -> tuple[int, int]:
    """Sequence numbers the gateway never saw, and those it wrote off (holes merged at the range cap, where a late
    arrival counts as a duplicate), summed over devices (the newest ``device_health`` point of each)."""
    series = _query(url, f'SELECT last("gaps"), last("written_off") FROM "{DEVICE_HEALTH}" GROUP BY "device"')
    return sum(int(s["values"][0][1]) for s in series), sum(int(s["values"][0][2] or 0) for s in series)


def _summary(log: Path) -> dict[str, Any]:
    """The simulator's last ``--json`` summary in its log (one per run, appended)."""
    lines = [line for line in log.read_text().splitlines() if line.startswith('{"counters"')]
    assert lines, log.read_text()[-3000:]
    summary: dict[str, Any] = json.loads(lines[-1])
    return summary


def _run(settings: UpSettings, truth: Path, *, check_api: bool = False) -> int:
    """One `smartcity up` run: back-fill, LIVE_S of live publishing, the orderly stop (as on Ctrl-C). With
    ``check_api``, compares an API history answer with InfluxDB while the stack runs; the points compared."""
    compared = 0
    started_ms = int(time.time() * 1000)
    with platform(settings, simulate_args=_faults(truth)) as running:
        deadline = time.monotonic() + 60
        simulator = running.children["simulator"]
        while time.monotonic() < deadline and _newest(running.influxd.url) < started_ms:
            assert simulator.poll() is None, (settings.workdir / "logs" / "simulator.log").read_text()[-2000:]
            time.sleep(0.5)  # back-filling
        assert _newest(running.influxd.url) >= started_ms, "no live reading within 60 s"
        time.sleep(LIVE_S)
        if check_api:
            assert running.api_url is not None
            assert running.operator_key is not None
            compared = _api_matches_influxdb(running.api_url, running.operator_key, running.influxd.url, started_ms)
    return compared


def _newest(url: str) -> int:
    series = [s for s in _query(url, 'SELECT last("seq") FROM /.*/') if s["name"] in MEASUREMENTS]
    return max((int(s["values"][0][0]) for s in series), default=0)


def _api_matches_influxdb(api_url: str, key: str, influx_url: str, started_ms: int) -> int:
    """``/v1/history`` (raw) of the busiest indoor-climate device over two settled back-filled hours equals what
    InfluxQL reads for it; the number of points compared."""
    series = _query(influx_url, 'SELECT count("co2") FROM "indoor_climate" GROUP BY "device"')
    assert series, "no indoor-climate device in the city"
    device = max(series, key=lambda s: int(s["values"][0][1]))["tags"]["device"]
    window = {"start": _iso(started_ms - 2 * 3_600_000), "end": _iso(started_ms - 600_000)}
    rows = _query(
        influx_url,
        'SELECT "co2" FROM "indoor_climate" WHERE "device" = $device AND time >= $start AND time < $end',
        {"device": device} | window,
    )
    expected = [(int(t), v) for t, v in rows[0]["values"] if v is not None] if rows else []
    answer = httpx.get(
        f"{api_url}/v1/history",
        params={"device": device, "metric": "co2", "resolution": "raw"} | window,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    got = [(_ms(datetime.fromisoformat(p["time"])), p["value"]) for p in answer.json()["points"]]
    assert got == expected
    assert len(expected) > 10, expected
    return len(expected)


def _with_influxd(workdir: Path) -> InfluxdProcess:
    influxd = InfluxdProcess(workdir / "influxd")
    influxd.start()
    return influxd


def test_faulty_city_is_conserved_and_a_restart_adds_without_duplicates(tmp_path: Path) -> None:
    work = tmp_path / "var"
    settings = UpSettings(workdir=work, devices=60, seed=11, backfill="12h", refresh_s=1.0)
    truth = tmp_path / "truth.jsonl"
    start_ms = int(time.time() * 1000)
    compared = _run(settings, truth, check_api=True)
    first = _summary(work / "logs" / "simulator.log")
    episodes = read_truth(truth)
    truth.rename(tmp_path / "truth-1.jsonl")
    influxd = _with_influxd(work)
    try:
        stored, dead, (health_gaps, written_off) = (
            _stored(influxd.url),
            _dead_letters(influxd.url),
            _health_gaps(influxd.url),
        )
    finally:
        influxd.stop()

    # Conservation: each reading the simulator sent is a point in InfluxDB or an out-of-range dead letter.
    ledger = first["devices"]
    sent = sum(entry["sent"] for entry in ledger.values())
    spiked = sum(len(entry["spiked"]) for entry in ledger.values())
    assert first["counters"]["readings"] == sent > 1_000, first["counters"]
    assert spiked == first["faults"]["spikes"] > 0
    assert sum(len(points) for points in stored.values()) + spiked == sent
    # One dead letter per message: a spiked reading that was also duplicated is two.
    assert set(dead) <= {"out-of-range", "malformed-json", "malformed-cbor"}, dead
    assert spiked <= dead["out-of-range"] <= spiked + first["faults"]["duplicate"]
    assert dead.get("malformed-json", 0) + dead.get("malformed-cbor", 0) == first["faults"]["malformed"]
    assert first["faults"]["duplicate"] > 0  # stored once: the point's identity is its device time
    for device, entry in ledger.items():
        arrived = {seq for _, seq in stored.get(device, [])} | set(entry["spiked"])
        assert len(arrived) == entry["sent"], device

    # Sequence gaps: only where the device was offline (an injected episode), and some there are.
    offline: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for record in episodes:
        if record.kind is FaultKind.OFFLINE:
            end = record.end or datetime.now(UTC)
            offline[record.device].append((_ms(record.start), _ms(end)))
    lost = 0
    for device, entry in ledger.items():
        times = {seq: t for t, seq in stored.get(device, [])}
        seqs = sorted(set(times) | set(entry["spiked"]))
        for before, after in itertools.pairwise(seqs):
            if after - before > 1:
                lost += after - before - 1
                since, until = times.get(before, 0), times.get(after, 2**62)
                assert any(a <= until and since <= b for a, b in offline[device]), (device, before, after)
        assert entry["last_seq"] - entry["first_seq"] + 1 - entry["sent"] == sum(
            b - a - 1 for a, b in itertools.pairwise(seqs)
        )
    assert lost > 0, "no offline episode fell into the run: the gap check checked nothing"
    # The gateway's own account (device health, `gaps` per device) says the same; to it a dead-lettered reading
    # is a gap too, its sequence number never arrived in a valid reading: offline periods plus spikes, nothing else.
    # A device's last reading dead-lettered is no gap yet: no valid reading after it has shown the jump.
    gapped = sum(
        1
        for device, entry in ledger.items()
        for seq in entry["spiked"]
        if seq < max((s for _, s in stored.get(device, [])), default=-1)
    )
    # A device with more holes than the gateway keeps ranges for (``RANGE_CAP``) has the smallest merged and
    # written off: a number of such a hole arriving late is counted as a duplicate, its gap stays counted.
    assert lost + gapped <= health_gaps <= lost + gapped + written_off
    assert start_ms - 12 * 3_600_000 - 60_000 <= min(t for points in stored.values() for t, _ in points)

    # The restart: the same data and city; the simulator adds what is new and does not send the history again.
    newest = max(t for points in stored.values() for t, _ in points)
    counts_before = sum(len(points) for points in stored.values())
    _run(settings, truth)
    second = _summary(work / "logs" / "simulator.log")
    influxd = _with_influxd(work)
    try:
        after = _stored(influxd.url)
    finally:
        influxd.stop()
    new = sum(entry["sent"] - len(entry["spiked"]) for entry in second["devices"].values())
    assert new > 0
    assert sum(len(points) for points in after.values()) == counts_before + new
    assert all(set(points) <= set(after[device]) for device, points in stored.items())  # the first run's data kept
    added = [t for device, points in after.items() for t, _ in sorted(set(points) - set(stored.get(device, [])))]
    # Device clocks may be skewed (episodes: up to 4 min either way), so "after the first run" allows for that.
    assert min(added) > newest - 2 * 240_000, "the restart sent history the first run had already stored"
    assert compared > 10


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")
