"""Detectors on a device's own values: stuck (no change beyond the resolution for too long) and spikes (robust
outliers against the device's recent history, a Hampel filter), with a city-wide check that keeps a change every
peer shows (a rain shower) from counting as a spike."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from services.quality.findings import Finding, HourStat, reading_step
from services.quality.limits import MetricLimits
from services.quality.robust import mad, median, robust_scale
from smartcity.contract.metrics import METRICS
from smartcity.quality_flags import FlagKind

HOUR_MS = 3_600_000
QUIET_STEPS = 2
QUIET_HISTORY_H = 12
"""A device whose readings outside a run span at most ``QUIET_STEPS`` of its steps over at least this many hours
holds a value because its resolution is coarse for its signal, not because it is stuck."""


class StuckRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    min_readings: int = Field(
        default=6,
        ge=2,
        description="readings a constant run needs to be stuck (an hourly bin has 6 in a bin's plausible 6 h)",
    )
    factor: float = Field(default=1.0, gt=0, le=100, description="multiplies every metric's plausible constant run")
    rare: float = Field(
        default=1e-3,
        gt=0,
        lt=1,
        description="a run of flat hours this improbable, from how often the device's other hours were flat, is stuck "
        "after half the plausible run and never explained by a coarse resolution",
    )
    peers_moving_h: int = Field(
        default=4,
        ge=1,
        description="a run at a rest value is stuck too when the peers' median was off that value for this many of "
        "its hours (a school reading 0 through a school day)",
    )


def _range_limit(metric: str, value: float, limits: MetricLimits) -> float | None:
    """The end of the metric's range ``value`` sits at, unless the metric rests there (a count at 0)."""
    spec = METRICS[metric]
    for limit in (spec.minimum, spec.maximum):
        if limit is not None and abs(value - limit) <= limits.resolution and limit not in limits.rests_at:
            return limit
    return None


def stuck(
    hours: Sequence[HourStat],
    metric: str,
    limits: MetricLimits,
    rules: StuckRules,
    peers: Mapping[int, float] | None = None,
    expected: Mapping[int, float] | None = None,
) -> list[Finding]:
    """Runs of hours (oldest first; an hour without readings neither breaks nor extends a run) in which every
    reading equals the run's value within the resolution, longer than the metric's plausible run and not at a
    value the metric rests at, unless ``peers`` (hour -> the peers' median, :func:`peer_medians`) were off that
    value for ``peers_moving_h`` of the run's hours: a closed school counts 0 all night and so do the others,
    but not through a school day. A run that reaches the newest hour is open.

    ``expected`` (hour -> the level the peers predict for this device, :func:`expected_levels`) explains a run
    held where the prediction stayed, moving by less than one step of the device's readings
    (:func:`~services.quality.findings.reading_step`): a hospital's
    steady water draw read in half units, one car a minute on a street at night. So does a device whose own
    readings outside the run stayed within ``QUIET_STEPS`` steps for ``QUIET_HISTORY_H`` hours, unless its other
    hours were so rarely flat that the run is improbable (``rules.rare``); such a run is stuck after half the
    plausible run.

    A value the device left and came back to in the look-back (another run at it lasted half the plausible run,
    or it is back at it now) is a level its place rests at, a public building's night guard or a base load: a run
    at it is stuck only once it lasts the plausible run longer than the longest other.

    A run at an end of the metric's registry range (CO2 at 250 ppm, a bin at 100 %) is *pinned*, not stuck: a
    full bin waits for its collection, a sensor saturates in fog. While the peers read elsewhere it is a drift
    that ran into the limit (or a railed sensor), and is flagged as drift."""
    if limits.stuck_after_h is None:
        return []
    limit_ms = limits.stuck_after_h * rules.factor * HOUR_MS
    findings: list[Finding] = []
    runs = _flat_runs(hours, limits.resolution)
    run: list[HourStat] = []

    def peers_moved(value: float) -> bool:
        known = [peers[h.hour_ms] for h in run if h.hour_ms in peers] if peers else []
        return sum(1 for level in known if abs(level - value) > limits.spread) >= rules.peers_moving_h

    step = reading_step(hours)

    def outside(run: list[HourStat]) -> list[HourStat]:
        return [h for h in hours if h.hour_ms < run[0].hour_ms or h.hour_ms > run[-1].hour_ms]

    def improbable(run: list[HourStat]) -> bool:
        """The device's other hours moved by more than its resolution explains (their readings typically spanned
        ``QUIET_STEPS`` steps or more), were so rarely flat that this many flat hours in a row would hardly
        happen, and never stayed flat half as long (a count that moves by a step every few readings, held for
        half a day; not a street's one car a minute every night)."""
        others = outside(run)
        if len(others) < QUIET_HISTORY_H or median([h.high - h.low for h in others]) < QUIET_STEPS * step:
            return False
        flat = [h.high - h.low <= limits.resolution for h in others]
        longest = max((sum(1 for _ in group) for is_flat, group in itertools.groupby(flat) if is_flat), default=0)
        share = (sum(flat) + 1) / (len(others) + 2)
        return 2 * longest < len(run) and share ** len(run) <= rules.rare

    def predicted(run: list[HourStat]) -> bool:
        """The peers' prediction stayed at the held value and moved by less than a step."""
        levels = [expected[h.hour_ms] for h in run if h.hour_ms in expected] if expected else []
        near = all(abs(level - run[0].mean) <= max(step, limits.spread) for level in levels)
        return len(levels) >= 2 and near and max(levels) - min(levels) < step

    def quiet(run: list[HourStat]) -> bool:
        """The device's own readings outside the run never moved by more than ``QUIET_STEPS`` steps."""
        others = outside(run)
        return len(others) >= QUIET_HISTORY_H and max(h.high for h in others) - min(h.low for h in others) <= (
            QUIET_STEPS * step
        )

    def close(end_ms: int | None) -> None:
        if not run:
            return
        value = run[0].mean
        span = _span(run)
        readings = sum(h.count for h in run)
        if readings < rules.min_readings or span < limit_ms / 2:
            return
        at_rest = any(abs(value - rest) <= limits.resolution for rest in limits.rests_at)
        if not at_rest and span <= _returned_to(runs, run, limits.resolution, limit_ms / 2) + limit_ms:
            return  # a level its place rests at (a public building's night guard), held about as long as elsewhere
        rare = not at_rest and improbable(run)
        if span < limit_ms and not rare:
            return
        hours_held = f"for {span / HOUR_MS:.0f} h ({readings} readings)"
        pinned = _range_limit(metric, value, limits)
        if pinned is not None:
            if span >= limit_ms and peers_moved(value):
                reason = f"{metric} pinned at its range limit {pinned:g} {hours_held} while its peers moved"
                findings.append(Finding(FlagKind.DRIFT, run[0].hour_ms, end_ms, span / limit_ms, reason, metric))
            return
        if at_rest and not peers_moved(value):
            return
        if not at_rest and (predicted(run) or (not rare and quiet(run))):
            return
        reason = f"{metric} held {value:g} {hours_held}" + (" while its peers moved" if at_rest else "")
        if span < limit_ms:
            reason += ", its other hours rarely flat"
        score = span / (limit_ms if span >= limit_ms else limit_ms / 2)
        findings.append(Finding(FlagKind.STUCK, run[0].hour_ms, end_ms, score, reason, metric))

    for held, end_ms in runs:
        run = held  # what the checks above judge
        close(end_ms)
    return findings


def _flat_runs(hours: Sequence[HourStat], resolution: float) -> list[tuple[list[HourStat], int | None]]:
    """Runs of consecutive hours whose every reading equals the run's value within ``resolution``, each with the
    hour that ended it (None: it reaches the newest hour)."""
    runs: list[tuple[list[HourStat], int | None]] = []
    run: list[HourStat] = []
    for hour in hours:
        flat = hour.high - hour.low <= resolution
        if run and flat and abs(hour.mean - run[0].mean) <= resolution:
            run.append(hour)
            continue
        if run:
            runs.append((run, hour.hour_ms))
        run = [hour] if flat else []
    if run:
        runs.append((run, None))
    return runs


def _returned_to(
    runs: Sequence[tuple[list[HourStat], int | None]], run: list[HourStat], resolution: float, at_least: float
) -> float:
    """The longest other run of the look-back at ``run``'s value that lasted ``at_least`` (ms), or that the device
    is in now (back at it this hour): a value the device left and came back to is a level its place rests at, not
    a frozen sensor; -inf without one."""
    spans = [
        _span(other)
        for other, end_ms in runs
        if other is not run and abs(other[0].mean - run[0].mean) <= resolution
        if end_ms is None or _span(other) >= at_least
    ]
    return max(spans, default=-math.inf)


def _span(run: Sequence[HourStat]) -> int:
    """Milliseconds from a run's first hour to the end of its last."""
    return run[-1].hour_ms + HOUR_MS - run[0].hour_ms


class SpikeRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    window: int = Field(default=30, ge=3, le=1000, description="recent readings each reading is compared with")
    min_history: int = Field(default=10, ge=3, description="readings of history before spikes are looked for")
    threshold: float = Field(
        default=6.0, gt=0, description="robust z: departure from both neighbours in the device's recent step sizes"
    )
    settle: float = Field(
        default=0.5, gt=0, le=1, description="the next reading comes back within this share (else a step)"
    )
    min_relative: float = Field(
        default=0.5,
        ge=0,
        description="and it leaves the level of its neighbours by at least this share of that level (levels under "
        "the metric's noise floor excepted): smaller excursions are what signals do between two readings",
    )


def spikes(points: Sequence[tuple[int, float]], metric: str, limits: MetricLimits, rules: SpikeRules) -> list[Finding]:
    """Lone outliers of one device's readings (sorted by time): a reading that leaves the reading before it by
    more than ``threshold`` robust standard deviations of the device's recent steps (the differences between
    consecutive readings of the ``window`` before it), that the following reading leaves again (back to within
    ``settle`` of the jump), and that departs from its neighbours' level by ``min_relative`` of it. Judged
    against steps rather than a level, a signal that climbs all day (CO2 in an office, a filling bin) is not an
    outlier, while a step that stays (a bin emptied) is not a spike. Outliers never join the history (a burst of
    spikes does not teach the filter); a history mostly at one value the metric does not rest at (a stuck
    sensor) judges nothing. The last reading waits for its successor."""
    if not limits.spikes:
        return []
    findings: list[Finding] = []
    history: list[float] = []
    for index, (ts, value) in enumerate(points):
        if len(history) >= rules.min_history and index + 1 < len(points):
            window = history[-rules.window :]
            centre = median(window)
            flat = mad(window) <= limits.resolution  # most of the window holds one value
            if flat and not any(abs(centre - rest) <= limits.resolution for rest in limits.rests_at):
                history.append(value)  # a stuck history says nothing about what the signal does
                continue
            steps = [b - a for a, b in itertools.pairwise(window)]
            scale = robust_scale(steps, limits.spread)
            before, following = window[-1], points[index + 1][1]
            jump = value - before
            score = min(abs(jump), abs(following - value)) / scale / rules.threshold
            returns = abs(following - before) <= rules.settle * abs(jump) and (following - value) * jump < 0
            level = (before + following) / 2
            large = abs(level) < limits.spread or abs(value - level) >= rules.min_relative * abs(level)
            if score >= 1 and returns and large:
                z = score * rules.threshold
                reason = f"{metric} {value:g} between {before:g} and {following:g} (robust z {z:.1f} of its steps)"
                findings.append(Finding(FlagKind.SPIKE, ts, ts + 1, score, reason, metric))
                continue
        history.append(value)
    return findings


class CommonModeRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bucket_ms: int = Field(default=1_800_000, ge=60_000, description="peers' spikes this close (ms) are one event")
    share: float = Field(
        default=0.3, gt=0, le=1, description="a type's devices spiking together at this share: the city, not a sensor"
    )
    min_devices: int = Field(default=2, ge=2, description="and at least this many devices")


def drop_common_mode(
    by_device: Mapping[str, list[Finding]], peers: int, rules: CommonModeRules
) -> dict[str, list[Finding]]:
    """The spikes of a device type's devices (``peers`` of them reporting) without those that many peers share
    in one time bucket (or the next): a city-wide shower lifts every rain gauge at once."""
    devices_in: dict[int, set[str]] = {}
    for device, findings in by_device.items():
        for finding in findings:
            devices_in.setdefault(finding.start_ms // rules.bucket_ms, set()).add(device)
    needed = max(rules.min_devices, rules.share * peers)

    def shared(ts: int) -> bool:
        bucket = ts // rules.bucket_ms
        around = devices_in.get(bucket - 1, set()) | devices_in.get(bucket, set()) | devices_in.get(bucket + 1, set())
        return len(around) >= needed

    return {device: [f for f in findings if not shared(f.start_ms)] for device, findings in by_device.items()}
