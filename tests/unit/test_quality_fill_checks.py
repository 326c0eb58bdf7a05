"""A bin's drift judged at its emptyings: a sensor offset shows as a bin that does not start from empty, or reads
empty for hours; spikes, a stuck sensor coming back and an unseen hour are no emptying to judge. Judged also as
the hour pass does, hour after hour, so the flag opens at the emptying and clears at the next good one."""

from __future__ import annotations

import math

from services.quality.book import FlagBook
from services.quality.fill_checks import FillRules, emptyings, fill_drift
from services.quality.findings import HourStat
from services.quality.hour_checks import judge_hours
from services.quality.limits import limits_of
from services.quality.settings import QualitySettings
from smartcity.city.directory import DeviceInfo
from smartcity.city.model import DeviceType, FacilityKind, NetworkClass
from smartcity.quality_flags import FlagKind

H = 3_600_000
LIMITS = limits_of("fill_level")
RULES = FillRules()
PERIOD_H = 40


def _level(hour: int, offset_per_h: float = 0.0, onset: int = 10**9) -> float:
    """A bin emptied every ``PERIOD_H`` hours, a reading an hour, with a sensor drifting by ``offset_per_h`` from
    ``onset``, clamped to 0-100 as the sensor reports it."""
    age = hour % PERIOD_H + 0.5
    true = 100 * (age / PERIOD_H) ** 0.9 + 1.2 * math.sin(hour * 2.3)
    drifted = true + offset_per_h * max(0, hour - onset)
    return float(round(min(100.0, max(0.0, drifted)) * 2) / 2)


def _bin(hours: range, offset_per_h: float = 0.0, onset: int = 10**9) -> list[HourStat]:
    return [HourStat(h * H, v, v, v, 1) for h in hours for v in (_level(h, offset_per_h, onset),)]


def test_a_healthy_bin_filling_and_emptied_is_no_drift() -> None:
    hours = _bin(range(0, 160))
    assert [h.hour_ms // H for h in (hours[i] for i in emptyings(hours, 25, 100, LIMITS.resolution))] == [40, 80, 120]
    assert fill_drift(hours, "fill_level", LIMITS, RULES) == []


def test_a_bin_reading_high_after_its_emptying_drifted_above_until_the_next_one() -> None:
    hours = _bin(range(0, 100), offset_per_h=0.8, onset=60)  # 16 points up when it is emptied at hour 80
    (finding,) = fill_drift(hours, "fill_level", LIMITS, RULES)
    assert finding.kind is FlagKind.DRIFT
    assert (finding.start_ms, finding.end_ms) == (80 * H, None)
    assert "drifted above" in finding.reason
    assert finding.score > 1


def test_a_bin_reading_empty_for_hours_after_its_emptying_drifted_below() -> None:
    hours = _bin(range(0, 100), offset_per_h=-0.8, onset=60)  # 16 points below empty at hour 80: 0 for hours
    (finding,) = fill_drift(hours, "fill_level", LIMITS, RULES)
    assert "drifted below" in finding.reason
    assert finding.start_ms == 80 * H


def test_a_lone_reading_is_no_emptying() -> None:
    hours = _bin(range(0, 70))
    dip, high = hours[20], hours[30]
    hours[20] = HourStat(dip.hour_ms, 2.0, 2.0, 2.0, 1)  # a spike down: back up the hour after
    hours[30] = HourStat(high.hour_ms, 100.0, 100.0, 100.0, 1)  # a spike up: the fall after it is no emptying
    assert emptyings(hours, 25, 100, LIMITS.resolution) == [40]
    assert fill_drift(hours, "fill_level", LIMITS, RULES) == []


def test_a_stuck_sensor_coming_back_is_no_emptying() -> None:
    hours = _bin(range(0, 80))
    held = hours[25].mean
    hours[26:38] = [HourStat(h * H, held, held, held, 1) for h in range(26, 38)]
    hours[38] = HourStat(38 * H, 20.0, 20.0, held, 1)  # back to where the bin stands: a fall from a held value
    assert fill_drift(hours, "fill_level", LIMITS, RULES) == []


def test_a_bin_that_filled_unseen_is_not_judged_high() -> None:
    hours = [h for h in _bin(range(0, 100)) if not 78 <= h.hour_ms // H < 83]  # offline around the emptying
    assert fill_drift(hours, "fill_level", LIMITS, RULES) == []


def test_the_hour_pass_flags_the_drift_at_the_emptying_and_clears_it_at_the_next_good_one() -> None:
    """A sensor recalibrated after hour 100 (its level falls by a third: no emptying): the next emptying (120)
    starts from empty again."""
    info = DeviceInfo(
        "wb-1", DeviceType.WASTE_BIN, "old-town", "f-1", FacilityKind.STREET_SEGMENT, NetworkClass.NARROWBAND
    )
    series = [
        HourStat(h * H, v, v, v, 1)
        for h in range(0, 150)
        for v in (_level(h, offset_per_h=0.8 if h <= 100 else 0, onset=60),)
    ]
    rules = QualitySettings().rules()
    book = FlagBook()
    opened: list[tuple[int, int, int]] = []
    closed: list[tuple[int, int, int]] = []
    for end in range(49, 150):
        window = {("wb-1", "fill_level"): [s for s in series if end - 48 <= s.hour_ms // H < end]}
        findings, scopes, _ = judge_hours(window, {"wb-1": info}, rules, {})
        for flag in book.observe(
            "wb-1", findings.get("wb-1", []), scopes["wb-1"], close_at=end * H, detected_ms=end * H
        ):
            (opened if flag.open else closed).append((flag.start_ms // H, flag.end_ms // H, end))
    assert opened == [(80, 0, 81)]
    assert closed == [(80, 120, 121)]  # written by the pass that saw the good emptying
