"""Rows of an export, read from InfluxDB one time chunk at a time, so memory stays flat however long the period.

The period is cut into chunks of about :data:`CHUNK_ROWS` InfluxDB rows each (estimated from the city model: the
contributing devices' report intervals, or devices times hours), from a minute to a day of raw points and up to a
week of hourly roll-ups. Each chunk is one InfluxQL statement with its bounds, district and facility kinds as bind
parameters; the next chunk is asked for while the current one is encoded and sent, so InfluxDB and the encoder
work side by side and at most two chunks are held at once.

Raw rows (per sensor)::

    SELECT "laeq", "lamax" FROM "noise" WHERE time >= $start AND time < $end [AND "district" = $district]
    GROUP BY "device"

Hourly rows (per facility), combined by :class:`services.opendata.exports.columns.Combiner`::

    SELECT "occupancy_sum", ... FROM "<db>"."rp_1h"."occupancy" WHERE time >= $start AND time < $end
    AND ("facility_kind" = $kind0 OR ...) [AND "district" = $district] GROUP BY "facility", "device"

A row is ``(time_ms, place_id, values)`` in column order; rows come ordered by time, then place. Rows of places
the city model does not hold (a device removed from the city file) are left out: they have no location.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from typing import cast

from services.opendata.datasets import ALL_KINDS
from services.opendata.exports.columns import Combine, Combiner, DeviceValues, Value
from services.opendata.exports.request import ExportRequest
from smartcity.influx.client import InfluxClient, ParamValue, Series, quote_identifier
from smartcity.rollups import DAY_MS, MINUTE_MS, source

CHUNK_ROWS = 10_000
"""InfluxDB rows asked for in one statement (about 1 MB of answer; the rows, their text and the next chunk in
flight hold about 10 MB of Python objects)."""
MAX_RAW_CHUNK_MS = DAY_MS
MAX_ROLLUP_CHUNK_MS = 7 * DAY_MS
NS_PER_MS = 1_000_000

Values = tuple[Value, ...]
Row = tuple[int, str, Values]


class ExportOverflow(Exception):
    """The store holds more rows than the dataset's cap allows (devices reporting faster than their interval):
    the stream is cut rather than sent short as if complete."""


def chunks(request: ExportRequest) -> list[tuple[int, int]]:
    """``[start, end)`` of every chunk of the period."""
    places = request.places.values()
    if request.layout.per_sensor:
        per_ms = sum(1 / (place.interval_s * 1000) for place in places)
        size = int(CHUNK_ROWS / per_ms) if per_ms else MAX_RAW_CHUNK_MS
        size = max(MINUTE_MS, min(MAX_RAW_CHUNK_MS, size // MINUTE_MS * MINUTE_MS))
    else:
        window = request.window_ms or DAY_MS
        per_window = sum(place.devices for place in places) or 1
        size = min(MAX_ROLLUP_CHUNK_MS, max(1, CHUNK_ROWS // per_window) * window)
    bounds = list(range(request.start_ms, request.end_ms, size))
    return [(low, min(low + size, request.end_ms)) for low in bounds]


def statement(request: ExportRequest, database: str) -> tuple[str, dict[str, ParamValue]]:
    """The chunk statement; ``$start`` and ``$end`` are set per chunk."""
    layout = request.layout
    fields = ", ".join(quote_identifier(name) for name in layout.fields)
    tier = request.dataset.source.tier
    table = quote_identifier(layout.measurement) if tier is None else source(database, tier, layout.measurement)
    where = ["time >= $start", "time < $end"]
    params: dict[str, ParamValue] = {}
    kinds = [kind.value for kind in request.dataset.facility_kinds]
    if request.dataset.facility_kinds != ALL_KINDS:
        where.append("(" + " OR ".join(f'"facility_kind" = $kind{i}' for i in range(len(kinds))) + ")")
        params |= {f"kind{i}": kind for i, kind in enumerate(kinds)}
    if request.district is not None:
        where.append('"district" = $district')
        params["district"] = request.district
    group = '"device"' if layout.per_sensor else '"facility", "device"'
    return f"SELECT {fields} FROM {table} WHERE {' AND '.join(where)} GROUP BY {group}", params


def _sensor_rows(request: ExportRequest, answer: Sequence[Series]) -> list[Row]:
    rows: list[Row] = []
    for series in answer:
        device = series.tags.get("device", "")
        if device not in request.places:
            continue
        for row in series.values:
            ts = row[0]
            if isinstance(ts, int):
                rows.append((ts, device, cast(Values, tuple(row[1:]))))
    rows.sort(key=lambda row: (row[0], row[1]))
    return rows


def _facility_rows(request: ExportRequest, combiner: Combiner, answer: Sequence[Series]) -> list[Row]:
    hours: dict[tuple[int, str], list[DeviceValues]] = {}
    for series in answer:
        facility = series.tags.get("facility", "")
        if facility not in request.places:
            continue
        for row in series.values:
            ts = row[0]
            if isinstance(ts, int):
                hours.setdefault((ts, facility), []).append(cast(DeviceValues, row[1:]))
    rows: list[Row] = []
    counted = [column.combine is Combine.DEVICES for column in request.layout.columns]
    for (ts, facility), devices in sorted(hours.items()):
        values = combiner(devices)
        if any(v is not None for v, count in zip(values, counted, strict=True) if not count):
            rows.append((ts, facility, values))
    return rows


async def read_rows(influx: InfluxClient, request: ExportRequest) -> AsyncGenerator[list[Row], None]:
    """The export's rows, one list per chunk (empty chunks are skipped); raises :class:`ExportOverflow` past the
    dataset's row cap."""
    query, params = statement(request, influx.settings.database)
    combiner = None if request.layout.per_sensor else Combiner(request.layout)

    async def fetch(span: tuple[int, int]) -> list[Series]:
        bounds = {"start": span[0] * NS_PER_MS, "end": span[1] * NS_PER_MS}
        return await influx.query(query, params | bounds)

    spans = chunks(request) if request.places else []
    cap = request.dataset.caps.max_rows
    sent = 0
    pending = asyncio.create_task(fetch(spans[0])) if spans else None
    try:
        for following in range(1, len(spans) + 1):
            answer = await cast(asyncio.Task[list[Series]], pending)
            pending = asyncio.create_task(fetch(spans[following])) if following < len(spans) else None
            rows = _sensor_rows(request, answer) if combiner is None else _facility_rows(request, combiner, answer)
            del answer
            sent += len(rows)
            if sent > cap:
                raise ExportOverflow(f"{request.dataset.id}: the store holds more than {cap:,} rows for the period")
            if rows:
                yield rows
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            await asyncio.wait([pending])
        if pending is not None and not pending.cancelled():
            pending.exception()  # retrieved, so an abandoned chunk's failure is not reported as unhandled
