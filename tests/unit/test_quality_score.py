"""The scorer on a synthetic truth log and set of flags whose figures are worked out by hand."""

from __future__ import annotations

import pytest

from smartcity.quality_flags import Flag, FlagKind
from smartcity.quality_score import DAY_MS, score, table
from smartcity.quality_truth import FaultKind, TruthRecord, ms_to_datetime

H = 3_600_000
START, END = 0, 10 * DAY_MS


def _truth(device: str, kind: FaultKind, start: int, end: int | None) -> TruthRecord:
    return TruthRecord(
        device=device,
        kind=kind,
        start=ms_to_datetime(start),
        end=None if end is None else ms_to_datetime(end),
        metric=None,
    )


def _flag(device: str, kind: FlagKind, start: int, end: int = 0, detected: int = 0) -> Flag:
    return Flag(device, kind, start, "x", 2.0, end_ms=end, detected_ms=detected or start)


TRUTH = [
    _truth("a", FaultKind.STUCK, 10 * H, 20 * H),  # found 2 h late
    _truth("b", FaultKind.STUCK, 30 * H, 40 * H),  # missed
    _truth("c", FaultKind.DRIFT, 50 * H, None),  # found (open flag), 6 h late
    _truth("d", FaultKind.SPIKE, 70 * H, 70 * H),  # found at its instant
    _truth("e", FaultKind.OFFLINE, 80 * H, 90 * H),
]
FLAGS = [
    _flag("a", FlagKind.STUCK, 12 * H, 20 * H),
    _flag("a", FlagKind.STUCK, 100 * H, 101 * H),  # false: "a" is healthy then
    _flag("c", FlagKind.DRIFT, 56 * H),
    _flag("d", FlagKind.SPIKE, 70 * H, 70 * H + 1),
    _flag("e", FlagKind.STUCK, 85 * H, 86 * H),  # wrong kind on a faulty device: not a false flag on a healthy one
    _flag("f", FlagKind.GAPS, 5 * H),  # transport figure: never scored
    _flag("b", FlagKind.OFFLINE, END + H),  # after the data: not scored
]


def test_precision_recall_and_time_to_detect_per_kind() -> None:
    result = score(TRUTH, FLAGS, devices=6, start_ms=START, end_ms=END)
    stuck = result.kinds[FaultKind.STUCK]
    assert (stuck.records, stuck.flags, stuck.detected, stuck.true_flags) == (2, 3, 1, 1)
    assert stuck.precision == pytest.approx(1 / 3)
    assert stuck.recall == pytest.approx(0.5)
    assert stuck.f1 == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))
    assert stuck.median_detect_ms == 2 * H
    drift = result.kinds[FaultKind.DRIFT]
    assert (drift.precision, drift.recall, drift.median_detect_ms) == (1.0, 1.0, 6 * H)
    spike = result.kinds[FaultKind.SPIKE]
    assert (spike.precision, spike.recall, spike.median_detect_ms) == (1.0, 1.0, 0)
    offline = result.kinds[FaultKind.OFFLINE]
    assert (offline.recall, offline.precision) == (0.0, None)
    assert result.kinds[FaultKind.SKEW].recall is None


def test_false_flags_per_thousand_healthy_device_days() -> None:
    result = score(TRUTH, FLAGS, devices=6, start_ms=START, end_ms=END)
    assert result.false_flags == 1
    # faulty time: a 10 h, b 10 h, c from 50 h to the end, d one instant, e 10 h (each widened by 10 min a side)
    slack = 2 * 600_000
    faulty = (10 * H + slack) * 3 + (END - 50 * H + 600_000) + (1 + slack)
    assert result.healthy_device_days == pytest.approx((6 * END - faulty) / DAY_MS)
    assert result.false_per_1000 == pytest.approx(1000 / result.healthy_device_days)


def test_the_table_lists_every_kind_with_its_target() -> None:
    text = table(score(TRUTH, FLAGS, devices=6, start_ms=START, end_ms=END))
    for kind in FaultKind:
        assert f"| {kind.value} |" in text
    assert "| stuck | 2 | 3 | 0.33 | 0.50 | 0.40 | 2.0 h | 0.9 / 0.9 |" in text
    assert "per 1,000" in text


def test_drift_and_skew_count_only_detections_within_their_window_and_censor_the_last_day() -> None:
    truth = [
        _truth("a", FaultKind.DRIFT, 10 * H, 100 * H),  # found 30 h after onset: too late for the target
        _truth("b", FaultKind.DRIFT, 10 * H, 100 * H),  # found 20 h after onset
        _truth("c", FaultKind.DRIFT, END - 10 * H, None),  # onset in the last day: censored, its flag still true
        _truth("d", FaultKind.SKEW, END - 30 * H, END - 20 * H),  # a full window before the end: judged, missed
        _truth("e", FaultKind.STUCK, END - 2 * H, None),  # no window for stuck: judged like any other
    ]
    flags = [
        _flag("a", FlagKind.DRIFT, 30 * H, detected=40 * H),
        _flag("b", FlagKind.DRIFT, 20 * H, detected=30 * H),
        _flag("c", FlagKind.DRIFT, END - 5 * H),
    ]
    result = score(truth, flags, devices=5, start_ms=START, end_ms=END)
    drift = result.kinds[FaultKind.DRIFT]
    assert (drift.records, drift.censored, drift.detected, drift.true_flags) == (2, 1, 1, 3)
    assert (drift.recall, drift.precision, drift.median_detect_ms) == (0.5, 1.0, 20 * H)
    skew = result.kinds[FaultKind.SKEW]
    assert (skew.records, skew.censored, skew.recall) == (1, 0, 0.0)
    stuck = result.kinds[FaultKind.STUCK]
    assert (stuck.records, stuck.censored, stuck.recall) == (1, 0, 0.0)
    assert "| drift | 2 (+1 censored) | 3 |" in table(result)
