"""Drift of a level that fills between emptyings (a waste bin), judged against the emptyings themselves: no two
bins fill alike, so a bin has no peers (:attr:`~services.quality.limits.MetricLimits.fills`).

An emptying is a fall of ``reset_share`` of the metric's range, and to half the level or less, within an hour,
that stays down the hour after (a smaller fall is a partial emptying, or a sensor recalibrated), from a level the
bin had risen to (a lone low or high reading is a spike, a value held a while below the top is a stuck sensor
coming back; the look-back's first hour is no level to fall from). Just after one, a bin's level starts from near
the bottom of its range and rises from its first hour. So a drifting fill sensor shows at its next emptying, as a
drift finding from that emptying to the next one (open while none came, and while the emptying is in the
look-back):

- **above**: it read ``restart_share`` of the range or more in the hour of the emptying (not judged when no
  reading came in the hour before it, when the bin may have filled unseen);
- **below**: it read the bottom of its range for ``empty_h`` hours after the emptying (a sensor drifted below
  empty, clamped to it).

A drift before the bin's next emptying is not seen: the rate a bin fills at changes through its cycle (fastest
just after an emptying), more than a slow drift changes it.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from services.quality.findings import Finding, HourStat
from services.quality.limits import MetricLimits
from smartcity.contract.metrics import METRICS
from smartcity.quality_flags import FlagKind
from smartcity.rollups import HOUR_MS


class FillRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reset_share: float = Field(default=0.25, gt=0, le=1, description="a fall of this share of the range: an emptying")
    restart_share: float = Field(
        default=0.12, gt=0, le=1, description="a level this share of the range above the bottom just after an emptying"
    )
    empty_h: int = Field(default=6, ge=2, description="hours at the bottom of the range after an emptying")


def emptyings(hours: Sequence[HourStat], fall: float, top: float, resolution: float) -> list[int]:
    """Indexes of the hours that begin a fill cycle: the level fell by ``fall`` from the hour before and stayed
    down the hour after, from a level it had risen to: not from a lone high reading (a spike), nor from a value
    held below the top of the range (a stuck sensor coming back)."""

    def fell(i: int) -> bool:
        before, earlier = hours[i - 1], hours[i - 2]
        jumped = before.mean - earlier.mean >= fall
        held = abs(before.mean - earlier.mean) <= resolution and before.high < top - resolution
        stayed = i + 1 == len(hours) or before.mean - hours[i + 1].mean >= fall
        halved = hours[i].low <= before.mean / 2  # a smaller fall is a partial emptying, or a recalibration
        return before.mean - hours[i].low >= fall and halved and stayed and not jumped and not held

    return [i for i in range(2, len(hours)) if fell(i)]


def fill_drift(hours: Sequence[HourStat], metric: str, limits: MetricLimits, rules: FillRules) -> list[Finding]:
    """Drift spans of one filling level (module docstring), oldest hour first."""
    spec = METRICS[metric]
    if spec.minimum is None or spec.maximum is None or spec.maximum <= spec.minimum:
        return []
    bottom, span = float(spec.minimum), float(spec.maximum - spec.minimum)
    resets = emptyings(hours, rules.reset_share * span, float(spec.maximum), limits.resolution)
    found: list[Finding] = []
    for n, i in enumerate(resets):
        until = hours[resets[n + 1]].hour_ms if n + 1 < len(resets) else None
        restart = hours[i].low
        filled_unseen = hours[i].hour_ms - hours[i - 1].hour_ms > HOUR_MS
        if restart - bottom >= rules.restart_share * span and not filled_unseen:
            reason = f"{metric} read {restart:g} just after an emptying, not near {bottom:g}: drifted above"
            score = (restart - bottom) / (rules.restart_share * span)
            found.append(Finding(FlagKind.DRIFT, hours[i].hour_ms, until, score, reason, metric))
            continue
        empty = 0
        for hour in hours[i:]:
            if hour.high > bottom + limits.resolution:
                break
            empty += 1
        if empty >= rules.empty_h:
            reason = f"{metric} read {bottom:g} for {empty} h after an emptying: drifted below"
            found.append(Finding(FlagKind.DRIFT, hours[i].hour_ms, until, empty / rules.empty_h, reason, metric))
    return found
