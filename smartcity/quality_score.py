"""Scoring quality flags against the ground truth of injected faults (``bench.quality_bench`` runs it on the
data-quality data set; its unit test on a synthetic pair).

Per fault kind: a truth record is **detected** when a flag of the same kind on the same device overlaps it (both
spans widened by ``slack_ms``; an open span lasts to the end of the data; a spike is one instant); a flag is
**true** when it overlaps a truth record of its kind on its device. Precision = true flags / flags, recall =
detected records / records, F1 their harmonic mean. Time to detect = the earliest matching flag's
``detected_ms`` minus the record's start (never below 0), median over detected records.

Drift and skew have a detection window (:data:`DETECT_WITHIN_MS`, the issue's 24 simulated hours): a record of
theirs counts as detected only when a matching flag was raised within the window of its onset, and one whose
window reaches past the end of the data (an onset in the data's last day) is **censored**: left out of recall,
since the detector had less than its window to see it (``KindScore.censored`` counts them; a flag on one is still
a true flag).

A **false flag** is one that overlaps no truth record of any kind on its device (a stuck flag on a device that was
offline is wrong in kind, not a flag on a healthy device). Healthy device-days: the devices' days in the data
minus the time each was under any fault.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from smartcity.quality_flags import Flag
from smartcity.quality_truth import FaultKind, TruthRecord

DAY_MS = 86_400_000

TARGETS: dict[FaultKind, tuple[float, float]] = {
    FaultKind.OFFLINE: (0.9, 0.9),
    FaultKind.STUCK: (0.9, 0.9),
    FaultKind.SPIKE: (0.9, 0.9),
    FaultKind.DRIFT: (0.8, 0.8),
    FaultKind.SKEW: (0.8, 0.8),
    FaultKind.BATTERY: (0.0, 0.0),
}
"""(precision, recall) the issue asks for; battery has none."""
DETECT_WITHIN_MS = 24 * 3_600_000
"""Drift and skew: detected within 24 simulated hours of onset."""
WINDOWED = frozenset({FaultKind.DRIFT, FaultKind.SKEW})
"""The kinds whose target has a detection window."""
FALSE_PER_1000_TARGET = 1.0
_FAULT_VALUES = frozenset(kind.value for kind in FaultKind)
"""Flag kinds the truth can name (gaps and duplicates are transport figures, never scored)."""


@dataclass(frozen=True, slots=True)
class KindScore:
    kind: FaultKind
    records: int
    flags: int
    detected: int
    true_flags: int
    median_detect_ms: float | None
    censored: int = 0
    """Records (not in ``records``) whose detection window reaches past the end of the data."""

    @property
    def precision(self) -> float | None:
        return self.true_flags / self.flags if self.flags else None

    @property
    def recall(self) -> float | None:
        return self.detected / self.records if self.records else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None
        return 2 * p * r / (p + r)


@dataclass(frozen=True, slots=True)
class Score:
    kinds: dict[FaultKind, KindScore]
    false_flags: int
    healthy_device_days: float

    @property
    def false_per_1000(self) -> float | None:
        return 1000 * self.false_flags / self.healthy_device_days if self.healthy_device_days else None


def _span(start: int, end: int | None, data_end: int, slack: int) -> tuple[int, int]:
    return start - slack, (data_end if end is None else max(end, start + 1)) + slack


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score(
    truth: Sequence[TruthRecord],
    flags: Sequence[Flag],
    *,
    devices: int,
    start_ms: int,
    end_ms: int,
    slack_ms: int = 600_000,
) -> Score:
    """The score of ``flags`` against ``truth`` over ``devices`` devices and ``[start_ms, end_ms)``; flags
    outside that span (the devices going offline after the data ends) are not scored."""
    flags = [flag for flag in flags if flag.overlaps(start_ms, end_ms)]
    truth_spans = [(r, _span(r.start_ms, r.end_ms, end_ms, slack_ms)) for r in truth]
    flag_spans = [(f, _span(f.start_ms, None if f.open else f.end_ms, end_ms, slack_ms)) for f in flags]
    kinds: dict[FaultKind, KindScore] = {}
    for kind in FaultKind:
        every = [(r, s) for r, s in truth_spans if r.kind is kind]
        window = DETECT_WITHIN_MS if kind in WINDOWED else None
        records = [(r, s) for r, s in every if window is None or r.start_ms + window <= end_ms]
        raised = [(f, s) for f, s in flag_spans if f.kind.value == kind.value]
        by_device: dict[str, list[tuple[Flag, tuple[int, int]]]] = {}
        for flag, span in raised:
            by_device.setdefault(flag.device, []).append((flag, span))
        delays: list[int] = []
        detected = 0
        for record, span in records:
            matches = [f for f, s in by_device.get(record.device, []) if _overlap(span, s)]
            first = min((f.detected_ms or f.start_ms for f in matches), default=None)
            if first is not None and (window is None or first - record.start_ms <= window):
                detected += 1
                delays.append(max(0, first - record.start_ms))
        truth_by_device: dict[str, list[tuple[int, int]]] = {}
        for record, span in every:
            truth_by_device.setdefault(record.device, []).append(span)
        true_flags = sum(1 for f, s in raised if any(_overlap(s, t) for t in truth_by_device.get(f.device, [])))
        kinds[kind] = KindScore(
            kind,
            len(records),
            len(raised),
            detected,
            true_flags,
            statistics.median(delays) if delays else None,
            len(every) - len(records),
        )
    any_truth: dict[str, list[tuple[int, int]]] = {}
    for record, span in truth_spans:
        any_truth.setdefault(record.device, []).append(span)
    false_flags = sum(
        1
        for flag, span in flag_spans
        if flag.kind.value in _FAULT_VALUES and not any(_overlap(span, t) for t in any_truth.get(flag.device, []))
    )
    faulty_ms = sum(_union((max(start_ms, a), min(end_ms, b)) for a, b in spans) for spans in any_truth.values())
    healthy = (devices * (end_ms - start_ms) - faulty_ms) / DAY_MS
    return Score(kinds, false_flags, max(0.0, healthy))


def _union(spans: Iterable[tuple[int, int]]) -> int:
    total, reach = 0, None
    for low, high in sorted(spans):
        if high <= low:
            continue
        if reach is None or low > reach:
            total += high - low
            reach = high
        elif high > reach:
            total += high - reach
            reach = high
    return total


def table(result: Score) -> str:
    """The score as a Markdown table, with the issue's targets."""
    lines = [
        "| kind | faults | flags | precision | recall | F1 | median time to detect | target P/R |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    for kind, item in result.kinds.items():
        delay = "-" if item.median_detect_ms is None else f"{item.median_detect_ms / 3_600_000:.1f} h"
        target = TARGETS[kind]
        aim = "-" if target == (0.0, 0.0) else f"{target[0]:.1f} / {target[1]:.1f}"
        faults = f"{item.records} (+{item.censored} censored)" if item.censored else str(item.records)
        row = [kind.value, faults, str(item.flags), number(item.precision), number(item.recall)]
        lines.append("| " + " | ".join([*row, number(item.f1), delay, aim]) + " |")
    per_1000 = result.false_per_1000
    lines.append("")
    lines.append(
        f"False flags: {result.false_flags} over {result.healthy_device_days:.0f} healthy device-days = "
        f"{'-' if per_1000 is None else f'{per_1000:.2f}'} per 1,000 (target <= {FALSE_PER_1000_TARGET:g})"
    )
    return "\n".join(lines)
