"""Data-quality flags: what the quality worker (``smartcity quality``) writes and the API reads, defined once.

``quality_flag`` (one point per flag; a flag is rewritten in place when it changes or clears)::

    tags    device, device_type, district, facility, facility_kind   (the registry tags, as on readings)
            kind       a FlagKind value (bounded)
            metric     the metric the flag is about; omitted for device-wide kinds (offline, skew, gaps, ...)
    fields  reason       what the detector saw, one line (bounded)
            start_ms     start of the condition (data time, ms); also the point's timestamp
            end_ms       end of the condition; 0 while it lasts
            score        how far beyond its threshold (robust z, silence in intervals, ...); >= 1 means flagged
            detected_ms  the data time the worker had evaluated up to when it raised the flag (time to detect)
            basis        what the detector judged against, space-separated numbers (a drift's gain, baseline,
                         scale); only where a restarted worker needs it
    time    start_ms

A point's identity is (measurement, tag set, timestamp), and the timestamp is the condition's start, which the
detectors derive from the data, never from the worker's clock: a worker that restarts and detects the same
condition again rewrites the same point, and clearing a flag (writing its ``end_ms``) overwrites the open one.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol

import msgspec

from smartcity.city.directory import DeviceInfo
from smartcity.influx.client import InfluxClient, ParamValue, Series, or_missing_database, quote_identifier
from smartcity.influx.lineprotocol import encode_point
from smartcity.influx.schema import device_tags
from smartcity.quality_truth import FaultKind

QUALITY_FLAG = "quality_flag"
REASON_LIMIT = 300
"""Longest reason kept."""


class FlagKind(enum.StrEnum):
    """What a flag says about a device: every :class:`~smartcity.quality_truth.FaultKind`, plus the delivery
    figures the gateways record (sequence gaps, duplicates), which no fault log names."""

    OFFLINE = FaultKind.OFFLINE.value
    STUCK = FaultKind.STUCK.value
    SPIKE = FaultKind.SPIKE.value
    DRIFT = FaultKind.DRIFT.value
    SKEW = FaultKind.SKEW.value
    BATTERY = FaultKind.BATTERY.value
    GAPS = "gaps"
    DUPLICATES = "duplicates"

    @property
    def distrusts_values(self) -> bool:
        """True when the device's values during the flag are wrong (indicators leave them out); offline, gaps,
        duplicates, skew and battery say nothing against the values that did arrive."""
        return self in (FlagKind.STUCK, FlagKind.SPIKE, FlagKind.DRIFT)


@dataclass(frozen=True, slots=True)
class Flag:
    """One flag (module docstring)."""

    device: str
    kind: FlagKind
    start_ms: int
    reason: str
    score: float
    metric: str = ""
    end_ms: int = 0
    """0 while the condition lasts."""
    detected_ms: int = 0
    basis: tuple[float, ...] = ()
    """What the detector judged against (a drift's gain, baseline and scale): a restarted worker judges an
    ongoing condition against the same."""

    @property
    def key(self) -> tuple[str, FlagKind, str]:
        """What at most one open flag exists for."""
        return (self.device, self.kind, self.metric)

    @property
    def open(self) -> bool:
        return self.end_ms == 0

    def closed(self, end_ms: int) -> Flag:
        return replace(self, end_ms=max(end_ms, self.start_ms))

    def overlaps(self, start_ms: int, end_ms: int) -> bool:
        """True when the flag covers part of ``[start_ms, end_ms)``."""
        return self.start_ms < end_ms and (self.open or self.end_ms > start_ms)


def flag_point(info: DeviceInfo, flag: Flag) -> str:
    """The ``quality_flag`` line of ``flag`` for the registry device ``info``."""
    tags = device_tags(info) | {"kind": flag.kind.value, "metric": flag.metric}
    fields: dict[str, str | int | float] = {
        "reason": flag.reason[:REASON_LIMIT].replace("\n", " ").replace("\r", " "),
        "start_ms": flag.start_ms,
        "end_ms": flag.end_ms,
        "score": round(float(flag.score), 3),
        "detected_ms": flag.detected_ms,
    }
    if flag.basis:
        fields["basis"] = " ".join(repr(float(value)) for value in flag.basis)
    return encode_point(QUALITY_FLAG, tags, fields, flag.start_ms)


class FlagReader(Protocol):
    """What reading flags needs (an :class:`~smartcity.influx.client.InfluxClient`, or a twin)."""

    async def query(
        self, q: str, params: Mapping[str, ParamValue] | None = None, *, epoch: str = "ms"
    ) -> list[Series]: ...


class _Stored(msgspec.Struct):
    time: int
    device: str
    kind: str
    reason: str = ""
    start_ms: int = 0
    end_ms: int = 0
    score: float = 0.0
    detected_ms: int = 0
    metric: str = ""
    basis: str = ""


def _basis(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split())
    except ValueError:
        return ()  # written by other code: judged afresh
    return values if all(math.isfinite(value) for value in values) else ()


async def read_flags(
    influx: FlagReader,
    *,
    since_ms: int = 0,
    until_ms: int | None = None,
    device: str | None = None,
    district: str | None = None,
    facility: str | None = None,
    kind: FlagKind | None = None,
    limit: int = 100_000,
) -> list[Flag]:
    """Flags whose start is in ``[since_ms, until_ms)`` (bind parameters for every filter), oldest first. A
    database that does not exist yet holds none."""
    where = ["time >= $since"]
    params: dict[str, ParamValue] = {"since": since_ms * 1_000_000}
    if until_ms is not None:
        where.append("time < $until")
        params["until"] = until_ms * 1_000_000
    for tag, value in (("device", device), ("district", district), ("facility", facility), ("kind", kind)):
        if value is not None:
            where.append(f"{quote_identifier(tag)} = ${tag}")
            params[tag] = str(value)
    query = (
        f"SELECT * FROM {quote_identifier(QUALITY_FLAG)} WHERE {' AND '.join(where)} "
        f"ORDER BY time ASC LIMIT {int(limit)}"
    )
    answer = await or_missing_database(influx.query(query, params))
    if answer is None:
        return []
    flags = []
    for series in answer:
        for row in series.records():
            values = {k: v for k, v in row.items() if v is not None} | series.tags
            stored = msgspec.convert(values, _Stored, strict=False)
            try:
                flag_kind = FlagKind(stored.kind)
            except ValueError:
                continue  # a kind a newer worker writes: not one this reader can describe
            flags.append(
                Flag(
                    device=stored.device,
                    kind=flag_kind,
                    start_ms=stored.start_ms or stored.time,
                    reason=stored.reason,
                    score=stored.score,
                    metric=stored.metric,
                    end_ms=stored.end_ms,
                    detected_ms=stored.detected_ms,
                    basis=_basis(stored.basis),
                )
            )
    return flags


QUALITY_PROGRESS = "quality_progress"
"""The end (ms) of the last hour the quality worker judged: one point per hour, its time that end, field
``completed_ms``; the newest point is the progress."""


def progress_point(completed_ms: int) -> str:
    return encode_point(QUALITY_PROGRESS, {"pass": "hour"}, {"completed_ms": completed_ms}, completed_ms)


async def read_quality_progress(influx: InfluxClient) -> int | None:
    """Where the worker's hourly passes are complete up to (ms), or None before the first one."""
    query = f'SELECT last("completed_ms") FROM {quote_identifier(QUALITY_PROGRESS)}'
    answer = await or_missing_database(influx.query(query))
    if answer is None:
        return None
    for series in answer:
        for row in series.values:
            if len(row) > 1 and isinstance(row[1], int):
                return row[1]
    return None
