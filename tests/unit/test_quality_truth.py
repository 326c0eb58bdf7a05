"""The ground-truth log: the documented line format, a round trip, begin/end merging and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smartcity.quality_truth import (
    FaultKind,
    TruthFileError,
    TruthRecord,
    TruthWriter,
    encode_record,
    ms_to_datetime,
    read_truth,
    write_truth,
)

T = 1_744_588_800_123  # 2025-04-14T00:00:00.123Z


def _record(kind: FaultKind = FaultKind.STUCK, end: int | None = None, **detail: object) -> TruthRecord:
    return TruthRecord(
        device="bb-1",
        kind=kind,
        start=ms_to_datetime(T),
        end=None if end is None else ms_to_datetime(end),
        metric="no2",
        detail=dict(detail),
    )


def test_a_line_has_exactly_the_documented_fields_and_formats() -> None:
    line = encode_record(_record(end=T + 3_600_000, value=21.5))
    assert line.endswith(b"\n")
    assert json.loads(line) == {
        "device": "bb-1",
        "kind": "stuck",
        "start": "2025-04-14T00:00:00.123Z",
        "end": "2025-04-14T01:00:00.123Z",
        "metric": "no2",
        "detail": {"value": 21.5},
    }
    assert json.loads(encode_record(_record()))["end"] is None


def test_round_trip_merges_the_begin_and_end_lines_of_one_fault(tmp_path: Path) -> None:
    path = tmp_path / "truth.jsonl"
    begun, ended = _record(value=3.0), _record(end=T + 60_000, value=3.0)
    other = TruthRecord(
        device="nb-2", kind=FaultKind.OFFLINE, start=ms_to_datetime(T - 1), end=None, metric=None, detail={}
    )
    with TruthWriter(path) as writer:
        for record in (begun, other, ended):
            writer.write(record)
    with TruthWriter(path) as writer:  # a second writer (another worker) appends
        writer.write(_record(FaultKind.SPIKE, end=T, value=900.0))
    records = read_truth(path)
    assert records == [other, _record(FaultKind.SPIKE, end=T, value=900.0), ended]  # by start, device, kind
    assert records[2].start_ms == T
    assert records[2].end_ms == T + 60_000
    write_truth(tmp_path / "copy.jsonl", records)
    assert read_truth(tmp_path / "copy.jsonl") == records


def test_on_at_is_half_open_and_a_spike_is_one_instant() -> None:
    stuck = _record(end=T + 1000)
    assert stuck.contains(ms_to_datetime(T))
    assert not stuck.contains(ms_to_datetime(T + 1000))
    spike = _record(FaultKind.SPIKE, end=T)
    assert spike.contains(ms_to_datetime(T))
    assert not spike.contains(ms_to_datetime(T + 1))
    assert _record().contains(ms_to_datetime(T + 10**9))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"not json", "line 2: not a truth record"),
        (b'{"device": "d", "kind": "melted", "start": "2025-04-14T00:00:00Z", "end": null, "metric": null}', "line 2"),
        (b'{"device": "d", "kind": "stuck", "start": "2025-04-14T00:00:00", "end": null, "metric": null}', "UTC"),
        (
            b'{"device": "d", "kind": "stuck", "start": "2025-04-14T00:00:00Z", "end": "2025-04-13T00:00:00Z", '
            b'"metric": null}',
            "before start",
        ),
        (b'{"device": "d", "kind": "skew", "start": "2025-04-14T00:00:00Z", "end": null, "metric": null, "x": 1}', "x"),
    ],
)
def test_a_bad_line_is_refused_naming_file_and_line(tmp_path: Path, line: bytes, message: str) -> None:
    path = tmp_path / "truth.jsonl"
    path.write_bytes(encode_record(_record()) + line + b"\n")
    with pytest.raises(TruthFileError, match=message) as caught:
        read_truth(path)
    assert str(path) in str(caught.value)
