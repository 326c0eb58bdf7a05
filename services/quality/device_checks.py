"""Detectors on a device's delivery: offline, sequence gaps and duplicates, clock skew, battery depletion.

Pure functions of what the gateways recorded (``device_health``) and of the device's own timestamps; the worker
decides when to call them and turns their findings into flags.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from services.quality.findings import Finding
from services.quality.robust import theil_sen
from smartcity.health import DeviceHealth
from smartcity.quality_flags import FlagKind

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Cadence:
    """How often a device should be heard from."""

    interval_ms: int
    """Its report interval: the registry's, or the one it last reported (a command may have changed it)."""
    narrowband: bool
    """Narrowband uplinks wait for the duty cycle and arrive in batches: they get ``narrowband_slack_ms`` more."""


class SilenceRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tolerance: float = Field(default=3.0, gt=1, le=100, description="missed report intervals before offline")
    min_silence_ms: int = Field(default=300_000, ge=0, description="shortest silence (ms) that counts as offline")
    narrowband_slack_ms: int = Field(
        default=1_800_000, ge=0, description="more silence (ms) allowed to narrowband devices (duty cycle, batches)"
    )
    lost_ms: int = Field(
        default=1_800_000,
        ge=0,
        description="readings lost in a row (sequence numbers skipped) covering this long (ms) are offline; 0: never",
    )

    def allowance_ms(self, cadence: Cadence) -> int:
        slack = self.narrowband_slack_ms if cadence.narrowband else 0
        return max(self.min_silence_ms, int(self.tolerance * cadence.interval_ms)) + slack


def interval_at(changes: Sequence[tuple[int, float]], ts_ms: int, default_ms: int) -> int:
    """The report interval (ms) in effect at ``ts_ms`` from the device's reported ``report_interval`` values
    (seconds, oldest first); before the first one, ``default_ms``."""
    current = default_ms
    for changed_ms, seconds in changes:
        if changed_ms > ts_ms:
            break
        current = int(seconds * 1000)
    return current


def offline(
    times: Sequence[int],
    *,
    now_ms: int,
    cadence: Cadence,
    rules: SilenceRules,
    last_seen_ms: int = 0,
    will_fired: bool = False,
    interval_changes: Sequence[tuple[int, float]] = (),
) -> list[Finding]:
    """Silences in the device's reading timestamps (sorted): a gap longer than the allowance between two
    readings is a closed span; silence since the last reading (or since it was last seen, whichever is later:
    a narrowband backlog arrives with old timestamps) up to ``now_ms`` is an open one; a fired will opens one
    at once. Each span starts one interval after the last reading before it."""
    findings: list[Finding] = []
    for before, after in itertools.pairwise(times):
        interval = interval_at(interval_changes, before, cadence.interval_ms)
        allowance = rules.allowance_ms(Cadence(interval, cadence.narrowband))
        if after - before > allowance:
            score = (after - before) / allowance
            reason = f"no reading for {(after - before) / 60_000:.0f} min (allowed {allowance / 60_000:.0f})"
            findings.append(Finding(FlagKind.OFFLINE, before + interval, after, score, reason))
    last = times[-1] if times else 0
    if not last:
        return findings
    interval = interval_at(interval_changes, last, cadence.interval_ms)
    allowance = rules.allowance_ms(Cadence(interval, cadence.narrowband))
    heard = max(last, last_seen_ms)
    silent = now_ms - heard
    if silent > allowance or (will_fired and last_seen_ms <= last + interval):
        reason = (
            "the broker published its will (connection lost)"
            if will_fired and silent <= allowance
            else f"silent for {silent / 60_000:.0f} min (allowed {allowance / 60_000:.0f})"
        )
        findings.append(Finding(FlagKind.OFFLINE, last + interval, None, max(1.0, silent / allowance), reason))
    return findings


def lost_runs(
    points: Sequence[tuple[int, int]],
    *,
    cadence: Cadence,
    rules: SilenceRules,
    interval_changes: Sequence[tuple[int, float]] = (),
) -> list[Finding]:
    """Offline spans from the sequence numbers of a device's readings ((ts, seq), oldest first): readings lost in a
    row between two that arrived, when they cover ``lost_ms`` of the device's report interval or more (a device
    reporting hourly that lost one reading had no data for an hour; one reporting every 10 s that lost a reading
    had a transport hiccup, a ``gaps`` matter). The span runs from one interval after the last reading before the
    loss to the next reading. A sequence number going back (a restart) or repeating says nothing."""
    if rules.lost_ms <= 0:
        return []
    findings: list[Finding] = []
    for (t0, s0), (t1, s1) in itertools.pairwise(points):
        lost = s1 - s0 - 1
        if lost <= 0 or t1 <= t0:
            continue
        interval = interval_at(interval_changes, t0, cadence.interval_ms)
        if lost * interval < rules.lost_ms:
            continue
        reason = f"{lost} reading{'s' if lost > 1 else ''} lost ({(t1 - t0) / 60_000:.0f} min between readings)"
        findings.append(
            Finding(FlagKind.OFFLINE, min(t0 + interval, t1 - 1), t1, lost * interval / rules.lost_ms, reason)
        )
    return findings


def merged(findings: Sequence[Finding]) -> list[Finding]:
    """Findings of one kind and metric with overlapping spans joined (an open one stays open), oldest first; the
    joined span keeps the reason of its highest score."""
    joined: list[Finding] = []
    for finding in sorted(findings, key=lambda f: f.start_ms):
        last = joined[-1] if joined else None
        if last is None or (last.end_ms is not None and finding.start_ms > last.end_ms):
            joined.append(finding)
            continue
        end = None if last.end_ms is None or finding.end_ms is None else max(last.end_ms, finding.end_ms)
        best = max(last, finding, key=lambda f: f.score)
        joined[-1] = Finding(best.kind, last.start_ms, end, best.score, best.reason, best.metric)
    return joined


class DeliveryRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    min_missing: int = Field(default=5, ge=1, description="fewer new gaps (or duplicates) in a cycle are noise")
    share: float = Field(
        default=0.2, gt=0, le=1, description="share of a cycle's sequence numbers missing (or repeated) flagged"
    )


def delivery(previous: DeviceHealth | None, current: DeviceHealth, rules: DeliveryRules) -> list[Finding]:
    """Gaps and duplicates that grew since the previous cycle's merged health, by share of what was sent."""
    if previous is None:
        return []
    findings: list[Finding] = []
    readings = max(0, current.readings - previous.readings)
    gaps = max(0, current.gaps - previous.gaps)
    duplicates = max(0, current.duplicates - previous.duplicates)
    start = previous.last_seen_ms or current.last_seen_ms
    for kind, count, total in ((FlagKind.GAPS, gaps, readings + gaps), (FlagKind.DUPLICATES, duplicates, readings)):
        if count >= rules.min_missing and total and count / total >= rules.share:
            reason = f"{count} of {total} sequence numbers {'missing' if kind is FlagKind.GAPS else 'repeated'}"
            findings.append(Finding(kind, start, None, count / total / rules.share, reason))
    return findings


class SkewRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold_ms: int = Field(default=5_000, ge=1, description="a device clock ahead by more than this (ms) is skew")
    behind_ms: int = Field(
        default=0,
        ge=0,
        description="a clock behind by more than this is skew too (0: never judged from the live offset, which "
        "late delivery, backlogs and back-fills lower as much as a slow clock)",
    )


def skew(health: DeviceHealth, *, narrowband: bool, rules: SkewRules, at_ms: int) -> Finding | None:
    """Clock skew from the gateway's per-device clock offset (``clock_offset_ms``: device clock minus receive
    time, the largest of the last 15-30 minutes). Transport delay only makes it smaller, so a clock ahead is
    unambiguous; one behind looks like late delivery and is judged only with ``behind_ms`` set, and never for
    narrowband devices, whose uplinks arrive late by design."""
    offset = health.clock_offset_ms
    if offset is None:
        return None
    if offset > rules.threshold_ms:
        score = offset / rules.threshold_ms
    elif rules.behind_ms and not narrowband and offset < -rules.behind_ms:
        score = -offset / rules.behind_ms
    else:
        return None
    side = "ahead of" if offset > 0 else "behind"
    return Finding(FlagKind.SKEW, at_ms, None, score, f"device clock {abs(offset) / 1000:.1f} s {side} the gateways")


class BatteryRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    low_percent: float = Field(default=10.0, ge=0, le=100, description="a narrowband battery at or below this")
    horizon_days: float = Field(default=7.0, gt=0, description="or a trend that empties it within this many days")
    min_points: int = Field(default=6, ge=2, description="battery readings needed for a trend")
    window_ms: int = Field(default=2 * DAY_MS, ge=3_600_000, description="the trend's window (ms)")
    max_points: int = Field(default=60, ge=2, le=1000, description="points in the trend at most (thinned evenly)")
    recent_ms: int = Field(
        default=8 * 3_600_000, ge=3_600_000, description="a second, short window (ms): a fall that began lately"
    )
    min_drop: float = Field(default=5.0, ge=0, description="percent the short window must fall by to count")


def battery(levels: Sequence[tuple[int, float]], rules: BatteryRules) -> Finding | None:
    """Depletion from a narrowband device's battery readings (sorted): below ``low_percent``, or a robust
    (Theil-Sen) downward trend that reaches 0 within ``horizon_days``, over the last ``window_ms``, or over the
    last ``recent_ms`` when the level fell by ``min_drop`` in it (a fall that began lately is diluted in the long
    window's median slope)."""
    if not levels:
        return None
    found = _depletion(levels, rules, rules.window_ms)
    if found is not None:
        return found
    newest_ms = levels[-1][0]
    recent = [point for point in levels if point[0] >= newest_ms - rules.recent_ms]
    if recent and recent[0][1] - recent[-1][1] >= rules.min_drop:
        return _depletion(recent, rules, rules.recent_ms)
    return None


def _depletion(levels: Sequence[tuple[int, float]], rules: BatteryRules, window_ms: int) -> Finding | None:
    newest_ms, newest = levels[-1]
    recent = [point for point in levels if point[0] >= newest_ms - window_ms]
    if len(recent) > rules.max_points:
        step = len(recent) / rules.max_points
        recent = [recent[int(index * step)] for index in range(rules.max_points)] + [recent[-1]]
    if newest <= rules.low_percent:
        return Finding(FlagKind.BATTERY, recent[0][0], None, rules.low_percent / max(newest, 0.1), f"{newest:.0f} %")
    if len(recent) < rules.min_points:
        return None
    per_day = theil_sen(recent) * DAY_MS
    if per_day >= 0:
        return None
    days_left = newest / -per_day
    if days_left > rules.horizon_days:
        return None
    reason = f"{newest:.0f} % falling {-per_day:.1f} %/day: empty in {days_left:.1f} days"
    return Finding(FlagKind.BATTERY, recent[0][0], None, rules.horizon_days / max(days_left, 0.01), reason)


class CadenceRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold_ms: int = Field(
        default=5_000, ge=1, description="readings shifted off their cadence by more than this (ms) are skewed"
    )
    around: int = Field(default=4, ge=2, le=50, description="steps each side whose median interval is the cadence")


@dataclass(slots=True)
class CadenceState:
    """What the cadence check carries from one window to the next for one device."""

    tail: list[tuple[int, int]] = field(default_factory=list)
    """Recent readings (ts, seq): judged ones as context, then those not judged yet."""
    judged: int = 0
    """How many of ``tail``'s first readings were judged."""
    offset_ms: int = 0
    """The clock shift accumulated since the last reading on the cadence."""
    skew_start_ms: int | None = None


def cadence_skew(
    readings: Sequence[tuple[int, int]], state: CadenceState, rules: CadenceRules, *, final: bool = False
) -> list[Finding]:
    """Clock skew from the readings' own timestamps and sequence numbers: a device samples on a cadence, so a
    clock that jumps shows as one step between two readings off the cadence (the median interval per sequence
    number of the ``around`` steps each side), and its return as the opposite step. An offline gap keeps the
    cadence (sequence numbers jump with it); a new report interval changes every later step, so the median
    follows it; a sequence number going back (a restart) starts afresh. ``readings`` (ts, seq, oldest first)
    follow the state's; the newest ``around`` wait for the next call (steps after them), unless ``final``."""
    known = set(state.tail)
    points = state.tail + sorted(r for r in set(readings) if r not in known)
    findings: list[Finding] = []
    until = len(points) if final else max(state.judged, len(points) - rules.around)
    steps = [(b[0] - a[0]) / (b[1] - a[1]) if b[1] > a[1] else None for a, b in itertools.pairwise(points)]
    for index in range(max(1, state.judged), until):
        (t0, s0), (t1, s1) = points[index - 1], points[index]
        if s1 <= s0:
            state.offset_ms, state.skew_start_ms = 0, None  # a restart (or a repeat): no cadence across it
            continue
        near = sorted(s for s in steps[max(0, index - 1 - rules.around) : index + rules.around] if s is not None)
        cadence = near[len(near) // 2]
        jump = int((t1 - t0) - (s1 - s0) * cadence)
        if abs(jump) <= rules.threshold_ms:
            continue
        state.offset_ms += jump
        if state.skew_start_ms is None and abs(state.offset_ms) > rules.threshold_ms:
            state.skew_start_ms = t1 - state.offset_ms
        elif state.skew_start_ms is not None and abs(state.offset_ms) <= rules.threshold_ms:
            reason = "readings back on their cadence"
            findings.append(Finding(FlagKind.SKEW, state.skew_start_ms, t1, 1.0, reason, "timestamps"))
            state.offset_ms, state.skew_start_ms = 0, None
    if state.skew_start_ms is not None:
        score = abs(state.offset_ms) / rules.threshold_ms
        reason = f"readings {state.offset_ms / 1000:+.0f} s off their cadence (device clock shifted)"
        findings.append(Finding(FlagKind.SKEW, state.skew_start_ms, None, score, reason, "timestamps"))
    drop = max(0, until - rules.around - 1)
    state.tail = points[drop:]
    state.judged = until - drop
    return findings
