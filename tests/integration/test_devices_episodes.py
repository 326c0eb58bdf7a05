"""Fault episodes through the real broker and gateway: every kind's readings land in InfluxDB (none is
dead-lettered) as the ground-truth log says they were shaped, and the log names each fault. The history ends at a
fixed instant, so it holds the same faults whenever the test runs."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from pathlib import Path

from devices.episodes import SHAPES, SKEW_MAX_MS, EpisodePlan
from devices.run_options import RunOptions
from smartcity.city.model import DeviceType, RadioProfile
from smartcity.contract.metrics import METRICS
from smartcity.influx.client import InfluxClient, quote_identifier
from smartcity.quality_truth import FaultKind, TruthRecord, read_truth
from smartcity.settings import InfluxSettings, MqttSettings
from tests.support.devices import simulator_city
from tests.support.faulty_city import HISTORY_END_MS, run_faulty_city

DAYS = 3
INTERVAL_S = 900
SKEW = SKEW_MAX_MS
"""A stored timestamp is at most this far from the instant the reading was taken."""


async def test_every_episode_kind_lands_in_influxdb_and_in_the_truth_log(
    mqtt_settings: MqttSettings, influx_settings: InfluxSettings, tmp_path: Path
) -> None:
    city = simulator_city(
        [DeviceType.AIR_QUALITY, DeviceType.NOISE, DeviceType.WEATHER] * 10,
        [(DeviceType.FLOOD_LEVEL, RadioProfile.LORAWAN_SF7)] * 16,
        report_interval_s=INTERVAL_S,
    )
    truth_path = tmp_path / "truth.jsonl"
    options = RunOptions(
        seed=5,
        start_ms=HISTORY_END_MS,
        backfill_s=DAYS * 86_400,
        backfill_rate=4_000,
        episodes=EpisodePlan({kind: 0.9 / SHAPES[kind].slot_days for kind in FaultKind}),
        truth_path=truth_path,
    )
    run = await run_faulty_city(city, options, mqtt=mqtt_settings, influx=influx_settings, workdir=tmp_path / "run")
    assert run.rejected == {}  # nothing dead-lettered: in range, inside the time window
    assert run.summary.counters.readings > DAYS * 40 * 86_400 // INTERVAL_S
    assert run.accepted >= run.summary.counters.readings  # every reading taken (a resend after a reconnect twice)
    records = read_truth(truth_path)
    assert {record.kind for record in records} == set(FaultKind)
    assert len(truth_path.read_text().splitlines()) > len(records)  # begin and end lines, merged on reading
    stored = await _stored(influx_settings, city.devices)
    skews: dict[str, list[TruthRecord]] = defaultdict(list)
    for record in records:
        if record.kind is FaultKind.SKEW:
            skews[record.device].append(record)

    def at(device: str, true_ms: int) -> int:
        """Where InfluxDB holds the reading taken at ``true_ms``: its timestamp carries the device clock's skew."""
        on = [int(r.detail["offset_ms"]) for r in skews[device] if r.start_ms <= true_ms < (r.end_ms or 1 << 62)]
        return true_ms + sum(on)

    def unskewed(device: str, stored_ms: int) -> bool:
        """No skew episode of ``device`` within the largest skew of ``stored_ms``: the reading was taken then."""
        return all(not (r.start_ms - SKEW <= stored_ms < (r.end_ms or 1 << 62) + SKEW) for r in skews[device])

    end = options.start_ms
    assert end is not None
    checked: dict[FaultKind, int] = defaultdict(int)
    for record in records:
        points = stored[record.device]
        stop = record.end_ms if record.end_ms is not None else end
        if record.kind is FaultKind.SPIKE:
            assert record.metric is not None
            assert points[record.metric][at(record.device, record.start_ms)] == record.detail["value"]
        elif record.kind is FaultKind.STUCK:
            assert record.metric is not None
            # stored t (true time +- 4 min of skew at most) well inside the window: the reading was taken in it
            inside = [v for t, v in points[record.metric].items() if record.start_ms + SKEW <= t < stop - SKEW]
            assert inside
            assert set(inside) == {record.detail["value"]}
        elif record.kind is FaultKind.DRIFT:
            assert record.metric is not None
            assert [t for t in points[record.metric] if record.start_ms + SKEW <= t < stop - SKEW]
        elif record.kind is FaultKind.SKEW:
            offset = record.detail["offset_ms"]
            # stored in this window only while skewed (an unskewed neighbour may fall into the rest of the shift)
            inside = [t for t in points["rssi"] if record.start_ms + max(0, offset) <= t < stop + min(0, offset)]
            assert inside
            times = sorted(points["rssi"])
            step = Counter(b - a for a, b in itertools.pairwise(times)).most_common(1)[0][0]  # the report interval
            on_time = [t for t in times if unskewed(record.device, t)]  # the grid of its report times
            assert on_time, "the device's clock was right some of the time"
            assert all((t - offset - on_time[0]) % step == 0 for t in inside), (record, inside, on_time[0])
        elif record.kind is FaultKind.OFFLINE:
            assert not [t for t in points["rssi"] if record.start_ms + SKEW <= t < stop - SKEW]
        elif record.kind is FaultKind.BATTERY:
            levels = [float(v) for t, v in sorted(points["battery"].items()) if t >= record.start_ms]  # type: ignore[arg-type]
            assert levels == sorted(levels, reverse=True)
        checked[record.kind] += 1
    assert set(checked) == set(FaultKind)


async def _stored(influx: InfluxSettings, devices: list) -> dict[str, dict[str, dict[int, object]]]:  # type: ignore[type-arg]
    """Per device, per field: time (ms) -> value, as InfluxDB holds them."""
    found: dict[str, dict[str, dict[int, object]]] = defaultdict(lambda: defaultdict(dict))
    measurements = {METRICS[name].measurement for name in METRICS}
    async with InfluxClient(influx) as client:
        for measurement in sorted(measurements):
            series = await client.query(f"SELECT * FROM {quote_identifier(measurement)} GROUP BY device")
            for one in series:
                device = one.tags.get("device", "")
                for row in one.records():
                    t = row.pop("time")
                    assert isinstance(t, int)
                    for name, value in row.items():
                        if value is not None and name in METRICS:
                            found[device][name][t] = value
    return found
