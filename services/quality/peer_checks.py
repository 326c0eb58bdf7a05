"""Drift: a device's slow divergence from its peers (same device type, same district; the city's devices of the
type when the district has too few).

Per hour, the residual of a device is its hourly mean minus the median of its peers' hourly means in that hour:
a change every peer shares (a heat wave) cancels out. The device's baseline is the median of its residuals over
the oldest ``baseline_h`` hours of the look-back (a sensor that always reads a little high is not drifting; a
series with less history, a new sensor's or the first day of data, has its oldest ``first_baseline_h``); the
scale is the robust spread (MAD) of those residuals, never below the metric's noise floor. An hour's drift score
is (residual - baseline) / scale; a drift is a run of hours whose rolling median score is beyond ``threshold``
for at least ``min_hours`` of them, and beyond ``hold`` of it in the others (a drift of a share of the peers'
level stands out less in their busy hours); it starts where that run starts.

A *proportional* metric (:attr:`~services.quality.limits.MetricLimits.proportional`: people in a building of its
own size, a meter of its own rating) is a multiple of its peers' level, not a fixed distance from it: a hall
for 900 counts 0 at night like a hall for 300, and 600 more by day. Its expected value is its *gain* (the median
ratio of its mean to the peers' median over the baseline hours) times the peers' median, and its residual is
the departure from that, relative to it (floored by the metric's spread, so an empty night is 0 against 0): a
drift of 10 people is a large share of a quiet evening and a small one of a busy noon.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from services.quality.findings import Finding, HourStat, reading_step
from services.quality.limits import MetricLimits
from services.quality.robust import median, robust_scale, theil_sen
from smartcity.quality_flags import FlagKind


class DriftRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float = Field(default=5.0, gt=0, description="robust z of the residual against the peer median")
    baseline_h: int = Field(default=24, ge=3, le=24 * 31, description="oldest hours of the look-back: the baseline")
    first_baseline_h: int = Field(
        default=12, ge=3, le=24 * 31, description="the baseline of a series shorter than baseline_h + min_hours"
    )
    min_hours: int = Field(default=4, ge=1, description="hours the smoothed score stays beyond the threshold")
    hold: float = Field(
        default=0.5, gt=0, le=1, description="share of the threshold a drift's score stays beyond while it lasts"
    )
    smooth_h: int = Field(default=3, ge=1, le=48, description="hours in the rolling median of the score")
    min_peers: int = Field(default=3, ge=2, description="devices (itself included) needed for a peer median")


def peer_medians(series: Mapping[str, list[HourStat]], min_peers: int) -> dict[int, float]:
    """Hour -> median of the hourly means of the devices that reported in it (hours with fewer than
    ``min_peers`` devices have none)."""
    by_hour: dict[int, list[float]] = {}
    for hours in series.values():
        for hour in hours:
            by_hour.setdefault(hour.hour_ms, []).append(hour.mean)
    return {hour: median(values) for hour, values in by_hour.items() if len(values) >= min_peers}


HOUR_MS = 3_600_000
RELATIVE_FLOOR = 0.05
"""Smallest scale of a proportional metric's relative residuals (5 % of the expected value): the ratio of one
street's traffic to its peers' wanders by a few percent, and the median of a small group moves by as much when
one of its members drifts."""

Reference = tuple[float, float, float]
"""(gain, baseline, scale) of a device's residuals; the gain is 1 for metrics that are not proportional."""


def _gain(hours: list[HourStat], medians: Mapping[int, float], floor: float) -> float | None:
    """Median ratio of the device's mean to its peers' median in the hours both were clearly above 0 (a day a
    school's counter read 0 says nothing of its size)."""
    ratios = [h.mean / medians[h.hour_ms] for h in hours if medians[h.hour_ms] > floor and h.mean > floor]
    return median(ratios) if len(ratios) >= 3 else None


def expected_levels(hours: list[HourStat], medians: Mapping[int, float], limits: MetricLimits) -> dict[int, float]:
    """Hour -> the level the peers predict for the device: its gain times their median for a proportional
    metric, their median moved by its usual offset otherwise (empty without a gain)."""
    judged = [h for h in hours if h.hour_ms in medians]
    if not judged:
        return {}
    if limits.proportional:
        gain = _gain(judged, medians, limits.spread)
        return {} if gain is None else {h.hour_ms: gain * medians[h.hour_ms] for h in judged}
    offset = median([h.mean - medians[h.hour_ms] for h in judged])
    return {h.hour_ms: medians[h.hour_ms] + offset for h in judged}


def _residual(mean: float, peer: float, gain: float, limits: MetricLimits) -> float:
    if not limits.proportional:
        return mean - peer
    expected = gain * peer
    return (mean - expected) / (abs(expected) + limits.spread)


def _baseline_scale(first: list[HourStat], sample: list[float], floor: float, threshold: float) -> float:
    """The robust scale of the baseline residuals; of what is left around their trend when the baseline is itself
    a drift under way (its Theil-Sen trend moves them by ``threshold`` of those scales): a drift older than the
    look-back would otherwise widen its own scale and never stand out."""
    scale = robust_scale(sample, floor)
    slope = theil_sen([(h.hour_ms, r) for h, r in zip(first, sample, strict=True)])
    centre = first[len(first) // 2].hour_ms
    around = [r - slope * (h.hour_ms - centre) for h, r in zip(first, sample, strict=True)]
    flat = robust_scale(around, floor)
    moved = abs(slope) * (first[-1].hour_ms - first[0].hour_ms)
    return flat if moved >= threshold * flat else scale


def drift(
    hours: list[HourStat],
    medians: Mapping[int, float],
    metric: str,
    limits: MetricLimits,
    rules: DriftRules,
    reference: Reference | None = None,
) -> tuple[list[Finding], Reference | None]:
    """Drift spans of one device (module docstring) against ``medians`` of its peers, and the reference they were
    judged against. A ``reference`` given (the one a drift was found against, kept while it lasts) judges every
    hour of the look-back against it: a drift longer than the look-back would otherwise become its own baseline."""
    judged = [h for h in hours if h.hour_ms in medians]
    kept = reference is not None
    lead: list[HourStat] = []  # the baseline's last hours, so that the first judged ones are smoothed in full
    if reference is None:
        short = min(rules.first_baseline_h, rules.baseline_h)  # a new sensor's, the first day of data
        length = rules.baseline_h if len(judged) >= rules.baseline_h + rules.min_hours else short
        if len(judged) < length + rules.min_hours:
            return [], None
        first = judged[:length]
        gain = _gain(first, medians, limits.spread) if limits.proportional else 1.0
        if gain is None:
            return [], None
        sample = [_residual(h.mean, medians[h.hour_ms], gain, limits) for h in first]
        # one step of a coarse reading is no drift; an hour averages its readings' steps away as its count grows
        step = reading_step(hours) / math.sqrt(median([h.count for h in first]))
        if limits.proportional:
            level = median([abs(gain * medians[h.hour_ms]) for h in first]) + limits.spread
            floor = max(RELATIVE_FLOOR, step / level)
        else:
            floor = max(limits.spread, step)
        reference = (gain, median(sample), _baseline_scale(first, sample, floor, rules.threshold))
        lead, judged = first[max(0, length - rules.smooth_h + 1) :], judged[length:]
    gain, baseline, scale = reference
    scores = [
        (h.hour_ms, (_residual(h.mean, medians[h.hour_ms], gain, limits) - baseline) / scale) for h in lead + judged
    ]
    smoothed = [
        (ts, median([s for _, s in scores[max(0, i - rules.smooth_h + 1) : i + 1]])) for i, (ts, _) in enumerate(scores)
    ][len(lead) :]
    scores = scores[len(lead) :]
    findings: list[Finding] = []
    run: list[tuple[int, float]] = []
    upwards: list[bool] = []
    ended: list[tuple[int, bool]] = []
    """(end, upwards) of the drifts that ended, a run cut by the look-back's start included."""

    def strong() -> int:
        return sum(abs(s) >= rules.threshold for _, s in run)

    def swung_back() -> bool:
        """The run turned the other way within ``smooth_h`` hours of a drift's end: drifts are slow, so this is the
        sensor coming back (recalibrated, replaced) past a reference taken while it drifted, not a new drift."""
        if not ended or run[0][0] - ended[-1][0] > rules.smooth_h * HOUR_MS:
            return False
        return (run[0][1] > 0) != ended[-1][1]

    def close(end_ms: int | None) -> None:
        if not run or swung_back():
            return
        if end_ms is not None and (strong() >= rules.min_hours or run[0][0] == scores[0][0]):
            ended.append((end_ms, run[-1][1] > 0))  # a drift, or the end of one the look-back cut
        if strong() >= rules.min_hours:
            peak = max(abs(s) for _, s in run)
            direction = "above" if run[-1][1] > 0 else "below"
            off = (
                f"{peak * scale:.0%} off its usual ratio to them"
                if limits.proportional
                else f"{peak * scale:.3g} off its baseline"
            )
            reason = f"{metric} drifted {direction} its district peers: {off} (robust z {peak:.1f})"
            findings.append(
                Finding(FlagKind.DRIFT, run[0][0], end_ms, peak / rules.threshold, reason, metric, reference)
            )
            upwards.append(run[-1][1] > 0)

    for ts, score in smoothed:
        beyond = rules.threshold * (rules.hold if run else 1.0)  # a drift's quieter hours do not end it
        if abs(score) >= beyond and (not run or (score > 0) == (run[-1][1] > 0)):
            run.append((ts, score))
            continue
        close(ts)
        run = [(ts, score)] if abs(score) >= rules.threshold else []
    close(None)
    if kept and findings:  # hours before the drift, against a reference taken as it began, read the other way
        findings = [f for f, up in zip(findings, upwards, strict=True) if up == upwards[-1]]
    return findings, reference
