"""Ground truth of data quality: every fault the simulator injected, as JSON lines, and the names of fault kinds.

The simulator (``smartcity simulate --truth FILE``) appends one object per line; the quality scorer and the
data-quality benchmark read the file back. The detectors name their flags with the same :class:`FaultKind`.

One line::

    {"device": "bb-12", "kind": "stuck", "start": "2025-04-08T06:12:00.000Z", "end": null,
     "metric": "no2", "detail": {"value": 23.5}}

- ``start`` / ``end``: RFC 3339 UTC with milliseconds, in simulated time (the readings' true time, before any
  clock skew). ``end`` is null while the fault is still on.
- A fault is written when it begins (``end`` null) and written again, whole, when the device takes its first
  reading after the fault ended. A fault still on at the device's last reading keeps ``end`` null: it lasted
  to the end of the data. :func:`read_truth` merges the two lines of one fault (same device, kind, start and
  metric) into one record, the later line winning.
- A spike is one reading: ``start`` = ``end`` = that reading's time.

Writers in several processes may append to one file: each record is one ``write`` of one line in append mode.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec


class FaultKind(enum.StrEnum):
    """What went wrong with a device: the ``kind`` of a truth record and of a quality flag."""

    OFFLINE = "offline"
    """The device sends nothing (its readings in the period are lost; sequence numbers jump over them)."""
    STUCK = "stuck"
    """The metric repeats one value."""
    SPIKE = "spike"
    """One reading far from the signal, inside the metric's registry range."""
    DRIFT = "drift"
    """The metric departs from the true signal by an offset that grows linearly with time."""
    SKEW = "skew"
    """The device clock is off by a constant offset (inside the gateway's acceptance window)."""
    BATTERY = "battery"
    """The battery drains fast to 0 %; the device then dies (an ``offline`` record from the death on)."""


class TruthRecord(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One injected fault (times in simulated time, UTC)."""

    device: str
    kind: FaultKind
    start: datetime
    end: datetime | None
    metric: str | None
    detail: dict[str, Any] = {}

    @property
    def start_ms(self) -> int:
        return datetime_to_ms(self.start)

    @property
    def end_ms(self) -> int | None:
        return None if self.end is None else datetime_to_ms(self.end)

    @property
    def key(self) -> tuple[str, FaultKind, datetime, str | None]:
        """What identifies one fault across its begin and end lines."""
        return (self.device, self.kind, self.start, self.metric)

    def contains(self, moment: datetime) -> bool:
        """Whether the fault was on at ``moment``: in [start, end), at start for a spike, from start on while
        ongoing."""
        if self.end is None:
            return self.start <= moment
        return self.start <= moment < self.end or moment == self.start


class TruthFileError(ValueError):
    """A truth file line that is not a record: the message names the file and line."""


def ms_to_datetime(epoch_ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime (millisecond precision)."""
    return _EPOCH + timedelta(milliseconds=epoch_ms)


def datetime_to_ms(moment: datetime) -> int:
    """An aware datetime as epoch milliseconds (exact: no float rounding)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rfc3339_ms(moment: datetime) -> str:
    """``2025-04-08T06:12:00.000Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def encode_record(record: TruthRecord) -> bytes:
    """One JSON line (with its newline), in the documented field order."""
    body = {
        "device": record.device,
        "kind": record.kind.value,
        "start": rfc3339_ms(record.start),
        "end": None if record.end is None else rfc3339_ms(record.end),
        "metric": record.metric,
        "detail": record.detail,
    }
    return msgspec.json.encode(body) + b"\n"


_DECODER = msgspec.json.Decoder(TruthRecord)


def decode_lines(lines: Iterable[bytes], *, source: str = "truth") -> Iterator[TruthRecord]:
    """Records of each non-blank line, as written (not merged). Raises :class:`TruthFileError`."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = _DECODER.decode(line)
        except msgspec.DecodeError as exc:
            raise TruthFileError(f"{source} line {number}: not a truth record ({exc})") from None
        if record.start.tzinfo is None or (record.end is not None and record.end.tzinfo is None):
            raise TruthFileError(f"{source} line {number}: times must carry a UTC offset")
        if record.end is not None and record.end < record.start:
            raise TruthFileError(f"{source} line {number}: end {record.end} is before start {record.start}")
        yield record


def merge(records: Iterable[TruthRecord]) -> list[TruthRecord]:
    """One record per fault (the later line of the same fault wins), ordered by start, device, kind."""
    merged: dict[tuple[str, FaultKind, datetime, str | None], TruthRecord] = {}
    for record in records:
        merged[record.key] = record
    return sorted(merged.values(), key=lambda r: (r.start, r.device, r.kind.value, r.metric or ""))


def read_truth(path: Path) -> list[TruthRecord]:
    """Every fault of a truth file, merged (see the module docstring). Raises FileNotFoundError or TruthFileError."""
    with path.open("rb") as handle:
        return merge(decode_lines(handle, source=str(path)))


class TruthWriter:
    """Appends records to a truth file (created when missing); safe to share between processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, record: TruthRecord) -> None:
        os.write(self._fd, encode_record(record))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> TruthWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def write_truth(path: Path, records: Iterable[TruthRecord]) -> None:
    """Write ``records`` as a new truth file (replacing one that exists)."""
    path.write_bytes(b"".join(encode_record(record) for record in records))
