"""Device health as stored by the gateway replicas, and the one way to read it back: merged across replicas.

Every gateway replica writes its own ``device_health`` points, tagged ``replica`` (its MQTT client id), so that
replicas in one ``$share`` group never overwrite each other. Each replica only sees part of a device's sequence,
so no single point is the device's truth; :func:`read_device_health` reads the latest point of every replica and
merges them (:func:`merge_replicas`). The gateway imports this module to write and reload its own points, the
planning API to read the merged figures; neither imports the other.

``device_health`` (one point per device and replica, every health interval for devices that changed, and once
at shutdown; ms timestamps = when the replica wrote it)::

    tags    device, device_type, district, facility, facility_kind (from the registry), replica
    fields  last_seq       highest sequence number of the device's current run (as seen by this replica)
            gaps           this replica's own gap figure; with several replicas it also counts the others' share,
                           so read the merged figure (read_device_health) instead
            duplicates     readings whose device and seq this replica had seen already
            first_seq      lowest sequence number of the current run
            seen           distinct sequence numbers of the current run this replica received
            ranges         the seen sequence numbers as ranges, "0-41,45-199" (at most RANGE_CAP ranges)
            written_off    sequence numbers inside the ranges that were never seen: holes merged away at the cap
            restarts       how often the device started its sequence again (seq back, newer device clock)
            run_start_ms   oldest device timestamp of the current run
            run_after_ms   newest device timestamp of the previous run (0: no restart seen)
            last_ts_ms     newest device timestamp of the current run
            closed_span    sum over earlier runs of (last_seq - first_seq + 1)
            closed_seen    sum over earlier runs of seen
            online         bool from birth/status/will; absent until known
            status_ms      receive time of the last status, birth or will
            last_seen_ms   receive time of the last message from the device
            clock_offset_ms  device clock minus receive time, the largest over the last 15 to 30 minutes: device
                           clock offset minus the smallest transport delay; back-filled and backlog readings carry
                           old timestamps, so they never raise it (absent until the device sent a reading)
            clock_at_ms    receive time of the last reading that fed clock_offset_ms
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import msgspec

from smartcity.influx.client import InfluxClient, JsonScalar, ParamValue, or_missing_database
from smartcity.influx.schema import DEVICE_HEALTH

MEASUREMENT = DEVICE_HEALTH
RANGE_CAP = 16
"""Most seen-ranges a replica keeps per device (see gateway/sequence.py for what happens at the cap)."""
CLOCK_WINDOW_MS = 15 * 60_000
"""``clock_offset_ms`` is the largest (device - receive) over the current and the previous window of this length."""

_RANGE = re.compile(r"^(-?\d+)(?:-(-?\d+))?$")


class HealthRecordError(ValueError):
    """A stored ``device_health`` value that cannot be what a gateway wrote (e.g. a malformed ``ranges``)."""


def format_ranges(flat: Sequence[int]) -> str:
    """``[0, 41, 45, 199]`` (start, end, start, end, ...) -> ``"0-41,45-199"``; a single number stands alone."""
    parts = []
    for index in range(0, len(flat), 2):
        start, end = flat[index], flat[index + 1]
        parts.append(str(start) if start == end else f"{start}-{end}")
    return ",".join(parts)


def parse_ranges(text: str) -> list[int]:
    """The inverse of :func:`format_ranges`: sorted, disjoint, non-adjacent ranges as a flat list, or
    :class:`HealthRecordError` naming what is wrong."""
    flat: list[int] = []
    if not text:
        return flat
    for part in text.split(","):
        match = _RANGE.match(part)
        if match is None:
            raise HealthRecordError(f"ranges {text[:80]!r}: {part[:40]!r} is not a number or a range a-b")
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) is not None else start
        if end < start:
            raise HealthRecordError(f"ranges {text[:80]!r}: {part!r} ends before it starts")
        if flat and start <= flat[-1] + 1:
            raise HealthRecordError(f"ranges {text[:80]!r}: {part!r} overlaps or touches the range before it")
        flat += (start, end)
    return flat


def range_count(flat: Sequence[int]) -> int:
    """How many numbers the flat ranges cover."""
    return sum(flat[index + 1] - flat[index] + 1 for index in range(0, len(flat), 2))


def union_count(range_sets: Iterable[Sequence[int]]) -> int:
    """How many distinct numbers several flat range lists cover together."""
    pairs = sorted((flat[i], flat[i + 1]) for flat in range_sets for i in range(0, len(flat), 2))
    total, current_end = 0, None
    for start, end in pairs:
        if current_end is None or start > current_end:
            total += end - start + 1
            current_end = end
        elif end > current_end:
            total += end - current_end
            current_end = end
    return total


class ReplicaHealth(msgspec.Struct, frozen=True, kw_only=True):
    """One replica's latest ``device_health`` point for one device (fields as in the module docstring)."""

    device: str
    replica: str = ""
    time: int = 0
    seen: int = 0
    first_seq: int = 0
    last_seq: int = 0
    ranges: str = ""
    written_off: int = 0
    gaps: int = 0
    duplicates: int = 0
    restarts: int = 0
    run_start_ms: int = 0
    run_after_ms: int = 0
    last_ts_ms: int = 0
    closed_span: int = 0
    closed_seen: int = 0
    online: bool | None = None
    status_ms: int = 0
    last_seen_ms: int = 0
    clock_offset_ms: int | None = None
    clock_at_ms: int = 0

    @property
    def sequenced(self) -> bool:
        """False for legacy points (no ``seen`` field) and for devices that only sent status or birth."""
        return self.seen > 0


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    """The merged health of one device across every replica that wrote some."""

    device: str
    gaps: int
    """Sequence numbers never received by any replica: loss upstream of the gateways, net of late arrivals."""
    duplicates: int
    readings: int
    """Distinct readings received (current run and earlier runs)."""
    first_seq: int | None
    last_seq: int | None
    restarts: int
    online: bool | None
    last_seen_ms: int
    clock_offset_ms: int | None
    replicas: tuple[str, ...]


def merge_replicas(device: str, records: Sequence[ReplicaHealth]) -> DeviceHealth:
    """The device's health from every replica's latest point.

    The current run is the one of the replica with the newest device timestamp; another replica belongs to it
    when its own run started after that run's boundary (``run_after_ms``). Over the current run: span = highest
    last_seq - lowest first_seq + 1, seen = the union of the replicas' ranges when none wrote holes off (copies of
    one reading that reached two replicas then count as duplicates), else the sum of their seen counts, where a
    negative span - seen can only come from such copies and is counted as duplicates; gaps = span - seen.
    Earlier runs are merged from counts (the widest span, the sum of seen): exact for one replica, within a few
    sequence numbers per device restart for several.
    """
    sequenced = [record for record in records if record.sequenced]
    online_record = max((r for r in records if r.online is not None), key=lambda r: r.status_ms, default=None)
    clock_records = [r for r in records if r.clock_offset_ms is not None]
    clock_offset = None
    if clock_records:
        # Each replica's figure is the largest (device - receive) of what it received: the largest fresh one
        # is the device's, as if one gateway had seen every reading.
        freshest = max(r.clock_at_ms for r in clock_records)
        fresh = [r.clock_offset_ms for r in clock_records if freshest - r.clock_at_ms <= 2 * CLOCK_WINDOW_MS]
        clock_offset = max(offset for offset in fresh if offset is not None)
    duplicates = sum(record.duplicates for record in records)
    gaps = readings = restarts = 0
    first_seq = last_seq = None
    if sequenced:
        newest = max(sequenced, key=lambda r: r.last_ts_ms)
        current = [r for r in sequenced if r is newest or r.run_start_ms > newest.run_after_ms]
        earlier = [r for r in sequenced if r not in current]
        first_seq, last_seq = min(r.first_seq for r in current), max(r.last_seq for r in current)
        span = last_seq - first_seq + 1
        if all(r.written_off == 0 for r in current):
            seen = union_count(parse_ranges(r.ranges) for r in current)
            duplicates += sum(r.seen for r in current) - seen  # one reading that reached two replicas
        else:
            seen = sum(r.seen for r in current)
        run_gaps = span - seen
        if run_gaps < 0:
            duplicates += -run_gaps
            run_gaps = 0
        # A replica still in an earlier run counts that run as closed.
        closed_span = max(
            [r.closed_span for r in current] + [r.closed_span + r.last_seq - r.first_seq + 1 for r in earlier]
        )
        closed_seen = sum(r.closed_seen for r in current) + sum(r.closed_seen + r.seen for r in earlier)
        gaps = run_gaps + max(0, closed_span - closed_seen)
        readings = seen + closed_seen
        restarts = max(r.restarts for r in sequenced)
    return DeviceHealth(
        device=device,
        gaps=gaps,
        duplicates=duplicates,
        readings=readings,
        first_seq=first_seq,
        last_seq=last_seq,
        restarts=restarts,
        online=online_record.online if online_record is not None else None,
        last_seen_ms=max((r.last_seen_ms for r in records), default=0),
        clock_offset_ms=clock_offset,
        replicas=tuple(sorted(r.replica for r in records)),
    )


def decode_row(row: dict[str, JsonScalar], tags: dict[str, str]) -> ReplicaHealth:
    """A query row (plus its series tags) as a :class:`ReplicaHealth`; null columns take their defaults."""
    values = {key: value for key, value in row.items() if value is not None}
    values.update(tags)
    try:
        return msgspec.convert(values, type=ReplicaHealth)
    except msgspec.ValidationError as exc:
        raise HealthRecordError(f"device_health of {tags.get('device')!r}: {exc}") from exc


async def read_replica_records(
    influx: InfluxClient, *, replica: str | None = None, device: str | None = None, since_ms: int = 0
) -> list[ReplicaHealth]:
    """The latest ``device_health`` point of every (device, replica) written since ``since_ms``, optionally of
    one replica or one device (bind parameters). A database that does not exist yet holds none."""
    where = ["time >= $since"]
    params: dict[str, ParamValue] = {"since": since_ms * 1_000_000}  # an integer time is in nanoseconds
    if replica is not None:
        where.append('"replica" = $replica')
        params["replica"] = replica
    if device is not None:
        where.append('"device" = $device')
        params["device"] = device
    query = (
        f'SELECT * FROM "{MEASUREMENT}" WHERE {" AND ".join(where)} '
        'GROUP BY "device", "replica" ORDER BY time DESC LIMIT 1'
    )
    answer = await or_missing_database(influx.query(query, params))
    if answer is None:
        return []
    return [decode_row(row, series.tags) for series in answer for row in series.records()]


async def read_device_health(
    influx: InfluxClient, *, device: str | None = None, since_ms: int = 0
) -> dict[str, DeviceHealth]:
    """Merged health per device (:func:`merge_replicas`) from every replica's latest point since ``since_ms``."""
    by_device: dict[str, list[ReplicaHealth]] = {}
    for record in await read_replica_records(influx, device=device, since_ms=since_ms):
        by_device.setdefault(record.device, []).append(record)
    return {name: merge_replicas(name, records) for name, records in sorted(by_device.items())}
