"""The live pass's judgement of one device from the gateways' merged ``device_health``: clock skew, delivery
(gaps, duplicates since the previous cycle) and offline (a fired will, silence up to now)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.quality.book import Scope
from services.quality.device_checks import (
    Cadence,
    DeliveryRules,
    SilenceRules,
    SkewRules,
    delivery,
    offline,
    skew,
)
from services.quality.findings import Finding
from smartcity.health import DeviceHealth
from smartcity.quality_flags import FlagKind


@dataclass(frozen=True, slots=True)
class LiveRules:
    silence: SilenceRules
    delivery: DeliveryRules
    skew: SkewRules


@dataclass(frozen=True, slots=True)
class LiveVerdict:
    findings: list[Finding]
    scope: Scope
    """What the pass judged: an open flag of these without a finding has ended."""
    close_at: int


def judge_live(
    current: DeviceHealth,
    previous: DeviceHealth | None,
    *,
    cadence: Cadence,
    last_reading_ms: int,
    interval_changes: Sequence[tuple[int, float]],
    now_ms: int,
    rules: LiveRules,
) -> LiveVerdict:
    """One device's live findings; ``previous`` is its health at the last cycle (None after a start: delivery is
    not judged), ``last_reading_ms`` the newest reading the hour passes saw."""
    findings: list[Finding] = []
    scope: Scope = {(FlagKind.SKEW, "")}
    found = skew(current, narrowband=cadence.narrowband, rules=rules.skew, at_ms=now_ms)
    if found is not None:
        findings.append(found)
    if previous is not None:
        scope |= {(FlagKind.GAPS, ""), (FlagKind.DUPLICATES, "")}
        findings += delivery(previous, current, rules.delivery)
    heard = max(last_reading_ms, current.last_seen_ms)
    findings += offline(
        [heard] if heard else [],
        now_ms=now_ms,
        cadence=cadence,
        rules=rules.silence,
        last_seen_ms=current.last_seen_ms,
        will_fired=current.online is False,
        interval_changes=interval_changes,
    )
    if current.online is not False and now_ms - current.last_seen_ms <= rules.silence.allowance_ms(cadence):
        scope.add((FlagKind.OFFLINE, ""))
    return LiveVerdict(findings, scope, current.last_seen_ms or now_ms)
