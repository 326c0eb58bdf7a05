"""The API benchmark's roll-up points, computed from each device's readings with the roll-up worker's own
arithmetic (``services.rollup.aggregate``), without InfluxDB in between.

The worker reads an hour from raw (``SUM``, ``COUNT``, ``MIN``, ``MAX`` per minute and series), adds the meters'
reset-aware increases, folds the minutes into the hour, and combines a local day from its hours. Here the same
functions run over the readings themselves: :func:`minute_windows` is what ``parse_windows`` and the register pass
of ``compute_hour`` make of the answers InfluxDB would give for those readings, ``coarsen`` (the worker's) folds
minutes into hours and hours into days, and :func:`tier_lines` writes exactly the lines that
:func:`services.rollup.aggregate.lines` writes (same order, same bytes), several times faster.
``tests.support.fast_rollups_check`` proves both against the real worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from services.rollup.aggregate import Aggregate, SeriesKey, Windows, coarsen, meter_increases
from services.rollup.windows import LocalDays, hour_of, minute_of
from smartcity.city.directory import DeviceDirectory
from smartcity.city.model import City, Device
from smartcity.contract.metrics import METRICS, MetricKind, Temporality
from smartcity.contract.reading import Reading
from smartcity.influx.lineprotocol import LineProtocolError, escape_key, escape_measurement, escape_tag_value
from smartcity.influx.schema import device_tags
from smartcity.rollups import DAY_MS, field, rolls_up
from tests.support.city_signals import HOUR_MS, CitySignals, reading_times

Tags = tuple[tuple[str, str], ...]
_NUMERIC = (MetricKind.FLOAT, MetricKind.INT)
_PARTS = ("sum", "min", "max", "increase")


@dataclass(frozen=True, slots=True)
class Layout:
    """The data set's spans (UTC ms). Readings are hourly before ``dense_from`` (:func:`dense_from`) and at each
    device's report interval after it; raw points are kept from ``raw_from_ms`` to ``anchor_ms``."""

    anchor_ms: int
    """The end of the data set (a UTC hour): the newest raw reading is just before it."""
    start_ms: int
    """The first rolled-up hour: the local midnight at or before ``anchor - days``."""
    rolled_to_ms: int
    """Hours (and minutes) before this are rolled up: the worker's progress for 1m and 1h (``anchor - 1 h``)."""
    days_to_ms: int
    """Local days before this are rolled up: the worker's progress for 1d."""
    minute_from_ms: int
    """The minute district's minute roll-ups (and readings at the report interval) start here."""
    raw_from_ms: int
    minute_district: str

    @classmethod
    def plan(
        cls, anchor_ms: int, *, days: int, minute_days: int, raw_hours: int, minute_district: str, timezone: str
    ) -> Layout:
        if anchor_ms % HOUR_MS or not 1 <= raw_hours <= minute_days * 24 <= days * 24:
            raise ValueError("the anchor is a UTC hour and 1 h <= raw span <= minute span <= hour span")
        local = LocalDays(timezone)
        start = local.start_of(anchor_ms - days * DAY_MS)
        rolled_to = anchor_ms - HOUR_MS
        closed = local.days_between(start, rolled_to)
        return cls(
            anchor_ms=anchor_ms,
            start_ms=start,
            rolled_to_ms=rolled_to,
            days_to_ms=closed[-1][1] if closed else start,
            minute_from_ms=anchor_ms - minute_days * DAY_MS,
            raw_from_ms=anchor_ms - raw_hours * HOUR_MS,
            minute_district=minute_district,
        )

    def dense_from(self, device: Device) -> int:
        return self.minute_from_ms if device.district_id == self.minute_district else self.raw_from_ms

    def minutes_kept_from(self, device: Device) -> int:
        """Where the device's minute roll-ups are written from (the minute district's span, else the hours
        rolled up from raw)."""
        return min(self.dense_from(device), self.rolled_to_ms)


DayOf = Callable[[int], int]


def day_of_hour(layout: Layout, timezone: str) -> DayOf:
    """Hour start -> start of its local day, for the whole days of ``layout`` (looked up, not computed per hour)."""
    days = LocalDays(timezone).days_between(layout.start_ms, layout.days_to_ms)
    return {hour: start for start, end in days for hour in range(start, end, HOUR_MS)}.__getitem__


@dataclass(frozen=True, slots=True)
class DeviceData:
    """One device's readings and roll-up windows (every window from ``layout.start_ms`` on)."""

    readings: list[Reading]
    minutes: Windows
    hours: Windows
    days: Windows


def device_data(signals: CitySignals, device: Device, layout: Layout, tags: Tags, day_of: DayOf) -> DeviceData:
    """Readings of ``device`` (the vitals from ``raw_from`` on) and their roll-ups up to ``layout.rolled_to``;
    ``day_of`` maps an hour's start to its local day's (:func:`day_of_hour`)."""
    signal = signals.signal(device)
    times = reading_times(
        device,
        signal.key,
        sparse_from_ms=layout.start_ms - HOUR_MS,  # the hour before the first carries each meter's previous reading
        dense_from_ms=layout.dense_from(device),
        end_ms=layout.anchor_ms,
    )
    readings = [signals.reading(signal, ts, vitals=ts >= layout.raw_from_ms) for ts in times]
    minutes = between(minute_windows([r for r in readings if r.ts_ms < layout.rolled_to_ms], tags), layout.start_ms)
    hours = coarsen(minutes, hour_of)
    whole_days = coarsen(between(hours, layout.start_ms, layout.days_to_ms), day_of)
    return DeviceData(readings, minutes, hours, whole_days)


def minute_windows(readings: Iterable[Reading], tags: Tags) -> Windows:
    """Per measurement and minute, what ``compute_hour`` folds from InfluxDB's answers for these readings: sum,
    count, min and max of each metric (counts only for booleans and text), merged as ``parse_windows`` merges
    rows, and each register's increases as its register pass adds them (``meter_increases`` over the readings
    in order: the first reading of a window pairs with the one before it)."""
    minutes: Windows = {}
    registers: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for reading in readings:
        start = minute_of(reading.ts_ms)
        for name, value in reading.values.items():
            spec = METRICS[name]
            found = Aggregate(count=1)
            if spec.kind in _NUMERIC:
                found.sum = found.min = found.max = float(value)
                if spec.temporality is Temporality.REGISTER:
                    registers.setdefault((spec.measurement, name), []).append((reading.ts_ms, float(value)))
            window = minutes.setdefault((spec.measurement, tags), {}).setdefault(start, {})
            held = window.get(name)
            if held is None:
                window[name] = found  # what merging it into a fresh Aggregate() gives
            else:
                held.merge(found)
    for (measurement, name), points in registers.items():
        series = minutes[(measurement, tags)]
        for start, amount in meter_increases(points, None, minute_of).items():
            aggregate = series.setdefault(start, {}).setdefault(name, Aggregate())
            aggregate.increase = (aggregate.increase or 0.0) + amount
    return minutes


def between(windows: Windows, low: int, high: int | None = None) -> Windows:
    """The windows starting in ``[low, high)`` (series without any left out)."""
    out: Windows = {}
    for key, by_start in windows.items():
        kept = {s: w for s, w in by_start.items() if s >= low and (high is None or s < high)}
        if kept:
            out[key] = kept
    return out


def city_tags(city: City) -> dict[str, Tags]:
    """Each device's series tags: the registry tags of its points (:func:`smartcity.influx.schema.device_tags`),
    sorted, empty ones left out, as the worker's ``series_key`` reads them back."""
    return {
        info.device_id: tuple(sorted((k, v) for k, v in device_tags(info).items() if v))
        for info in DeviceDirectory.from_city(city)
    }


_FIELD_KEYS: Mapping[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    name: (
        escape_key(field(spec, "count")) + "=",
        tuple((part, escape_key(field(spec, part)) + "=") for part in _PARTS if part in rolls_up(spec)),
    )
    for name, spec in METRICS.items()
}
_HEADS: dict[SeriesKey, str] = {}


def _head(key: SeriesKey) -> str:
    """``measurement,tag=value,... `` as ``encode_point`` writes it (tags sorted, empty ones left out)."""
    head = _HEADS.get(key)
    if head is None:
        if len(_HEADS) > 100_000:
            _HEADS.clear()
        measurement, tags = key
        tag_text = "".join(f",{escape_key(k)}={escape_tag_value(v)}" for k, v in sorted(tags) if v)
        head = _HEADS[key] = f"{escape_measurement(measurement)}{tag_text} "
    return head


def tier_lines(windows: Windows) -> list[str]:
    """The same lines as :func:`services.rollup.aggregate.lines` (sorted by series and time, metrics by name,
    ``count`` then ``sum``, ``min``, ``max``, ``increase``; floats in the shortest form that round-trips), with
    each series' escaped head built once."""
    out: list[str] = []
    for key, by_start in sorted(windows.items()):
        head = _head(key)
        for start in sorted(by_start):
            by_metric = by_start[start]
            parts: list[str] = []
            for name in sorted(by_metric):
                aggregate = by_metric[name]
                count_key, keys = _FIELD_KEYS[name]
                parts.append(f"{count_key}{aggregate.count}i")
                for part, key_text in keys:
                    value = getattr(aggregate, part)
                    if value is not None:
                        text = repr(float(value))
                        if text[-1] in "fn":  # inf, nan: InfluxDB has no such values
                            raise LineProtocolError(f"{text} cannot be stored")
                        parts.append(key_text + text)
            out.append(f"{head}{','.join(parts)} {start}")
    return out
