"""Fault episodes in simulated time: offline periods, stuck values, in-range spikes, drift, clock skew and battery
depletion, each with a seeded random onset and duration, written to the ground-truth log as they happen.

``--faults realistic`` (a preset of rates) and ``--fault-rate KIND=PER_DAY`` (repeatable, overrides the preset) set
how often each :class:`~smartcity.quality_truth.FaultKind` begins on a device, per simulated device-day. Everything
is a pure function of (seed, device, simulated time): simulated time is cut into slots of ``slot_days`` per kind
(aligned to the epoch), and in each slot a device has one candidate episode with probability ``rate * slot_days``,
its onset uniform in the slot, its duration log-uniform between the kind's bounds (never longer than a slot). A
candidate that would begin while the previous slot's candidate still runs is dropped, so episodes of one kind never
overlap. Onsets before the run's first simulated instant are dropped too. So the same seed gives the same episodes
at any ``--speed`` and ``--backfill`` rate, whichever worker runs the device.

What each kind does (the first metric of the device's type is "the metric"; booleans and text have none, so
stuck, spike and drift leave those devices alone; battery applies to battery-powered, narrowband, devices):

=========== ============ ==========================================================================================
kind        duration     what happens
=========== ============ ==========================================================================================
offline     1 h - 12 h   no reading: the device's sequence numbers jump over the readings it lost
stuck       6 h - 2.5 d  the metric repeats the value of the episode's first reading
spike       one reading  the metric jumps 5-10 scales away from the signal, inside the registry range
drift       2 d - 6 d    the metric drifts by 1-2 scales per day, up or down (clamped to the range)
skew        6 h - 3.5 d  the device clock is off by 30 s to 4 min, either way (inside the gateway's 5 min window)
battery     1 d - 4 d    the battery falls linearly to 0 %; then the device dies for good (an ``offline`` record)
=========== ============ ==========================================================================================

A metric's *scale* is the larger of a per-metric floor (a typical hourly change, :data:`SCALE_FLOOR`) and a quarter
of the signal's value at the onset, so a spike or a drift stands out from the device's own history.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from devices.drivers import DAY_S, stable_key, uniform
from smartcity.contract.reading import Value
from smartcity.quality_truth import FaultKind

DAY_MS = int(DAY_S * 1000)
SKEW_MIN_MS = 30_000
SKEW_MAX_MS = 240_000
"""Below the gateway's default ``max_future_s`` (300 s) with a minute to spare for transit and clock error."""


@dataclass(frozen=True, slots=True)
class KindShape:
    slot_days: int
    min_s: float
    max_s: float


SHAPES: Mapping[FaultKind, KindShape] = {
    FaultKind.OFFLINE: KindShape(1, 3600, 12 * 3600),
    FaultKind.STUCK: KindShape(3, 6 * 3600, 2.5 * DAY_S),
    FaultKind.SPIKE: KindShape(1, 0, 0),
    FaultKind.DRIFT: KindShape(7, 2 * DAY_S, 6 * DAY_S),
    FaultKind.SKEW: KindShape(4, 6 * 3600, 3.5 * DAY_S),
    FaultKind.BATTERY: KindShape(7, DAY_S, 4 * DAY_S),
}

PRESETS: Mapping[str, Mapping[FaultKind, float]] = {
    "none": {},
    "realistic": {
        FaultKind.OFFLINE: 0.03,
        FaultKind.STUCK: 0.01,
        FaultKind.SPIKE: 0.05,
        FaultKind.DRIFT: 0.01,
        FaultKind.SKEW: 0.01,
        FaultKind.BATTERY: 0.01,
    },
}
"""Episodes begun per simulated device-day (docs/SIMULATOR.md explains the realistic figures)."""

SCALE_FLOOR: Mapping[str, float] = {
    "no2": 10.0,
    "co2": 150.0,
    "laeq": 5.0,
    "power": 1.0,
    "water_flow": 0.2,
    "occupancy": 5.0,
    "vehicle_count": 5.0,
    "temperature": 3.0,
    "water_level": 5.0,
    "fill_level": 5.0,
}


class EpisodeSpecError(ValueError):
    """A ``--faults`` or ``--fault-rate`` argument that cannot be used; the message says what is expected."""


@dataclass(frozen=True, slots=True)
class Episode:
    """One planned fault (epoch ms; ``end_ms`` of a battery episode is the death, after which the device is gone)."""

    kind: FaultKind
    start_ms: int
    end_ms: int
    key: int
    """Keys the episode's own random choices (sign, magnitude)."""

    def draw(self, salt: int) -> float:
        return uniform(self.key + salt)


@dataclass(frozen=True, slots=True)
class EpisodePlan:
    """Rates per fault kind (episodes begun per simulated device-day)."""

    rates: Mapping[FaultKind, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, preset: str | None, specs: list[str]) -> EpisodePlan:
        """``preset`` (``realistic``, ``none``) then ``KIND=PER_DAY`` overrides. Raises EpisodeSpecError."""
        rates: dict[FaultKind, float] = {}
        if preset is not None:
            if preset not in PRESETS:
                raise EpisodeSpecError(f"unknown --faults preset {preset!r}; known presets: {', '.join(PRESETS)}")
            rates.update(PRESETS[preset])
        given: set[FaultKind] = set()
        for spec in specs:
            name, sep, text = spec.partition("=")
            try:
                kind = FaultKind(name.strip())
            except ValueError:
                known = ", ".join(kind.value for kind in FaultKind)
                raise EpisodeSpecError(f"unknown fault kind {name.strip()!r} in {spec!r}; known: {known}") from None
            if not sep:
                raise EpisodeSpecError(f"--fault-rate {spec!r} needs a rate per device-day: {kind.value}=0.02")
            try:
                rate = float(text)
            except ValueError:
                raise EpisodeSpecError(f"rate {text!r} of {kind.value} is not a number") from None
            most = 1 / SHAPES[kind].slot_days
            if not 0 <= rate <= most or math.isnan(rate):
                raise EpisodeSpecError(f"rate of {kind.value} must be from 0 to {most:g} per device-day, got {rate}")
            if kind in given:
                raise EpisodeSpecError(f"--fault-rate {kind.value} is given twice")
            given.add(kind)
            rates[kind] = rate
        return cls({kind: rate for kind, rate in rates.items() if rate > 0})

    @property
    def active(self) -> bool:
        return bool(self.rates)

    def candidate(self, seed: int, device_id: str, kind: FaultKind, slot: int) -> Episode | None:
        """The slot's candidate episode of ``kind`` (before the overlap rule), or None."""
        rate = self.rates.get(kind, 0.0)
        if rate <= 0:
            return None
        shape = SHAPES[kind]
        key = stable_key("episode", seed, device_id, kind.value, slot)
        if uniform(key) >= rate * shape.slot_days:
            return None
        slot_ms = shape.slot_days * DAY_MS
        start = slot * slot_ms + int(uniform(key + 1) * slot_ms)
        if shape.max_s <= 0:
            return Episode(kind, start, start, key)
        duration_s = shape.min_s * (shape.max_s / shape.min_s) ** uniform(key + 2)
        return Episode(kind, start, start + int(duration_s * 1000), key)

    def episode(self, seed: int, device_id: str, kind: FaultKind, slot: int) -> Episode | None:
        """The slot's episode of ``kind`` after the overlap rule (see the module docstring)."""
        found = self.candidate(seed, device_id, kind, slot)
        if found is None:
            return None
        before = self.candidate(seed, device_id, kind, slot - 1)
        if before is not None and before.end_ms >= found.start_ms:
            return None
        return found

    def episodes(self, seed: int, device_id: str, kind: FaultKind, start_ms: int, end_ms: int) -> list[Episode]:
        """Every episode of ``kind`` that begins in [start_ms, end_ms) (for tests and planning tools)."""
        slot_ms = SHAPES[kind].slot_days * DAY_MS
        found = []
        for slot in range(start_ms // slot_ms, end_ms // slot_ms + 1):
            episode = self.episode(seed, device_id, kind, slot)
            if episode is not None and start_ms <= episode.start_ms < end_ms:
                found.append(episode)
        return found


def metric_scale(metric: str, value: float) -> float:
    return max(SCALE_FLOOR.get(metric, 1.0), 0.25 * abs(value))


def spiked_value(episode: Episode, metric: str, value: float, low: float, high: float) -> float:
    """A value 5-10 scales from ``value``, inside [low, high]: away from the nearer bound of the range."""
    scale = metric_scale(metric, value)
    jump = (5 + 5 * episode.draw(3)) * scale
    up = episode.draw(4) < 0.5
    room_up, room_down = high - value, value - low
    if (up and room_up < jump and room_down > room_up) or (not up and room_down < jump and room_up > room_down):
        up = not up
    return min(high, value + jump) if up else max(low, value - jump)


def drift_per_day(episode: Episode, metric: str, value: float) -> float:
    scale = metric_scale(metric, value)
    sign = 1.0 if episode.draw(3) < 0.5 else -1.0
    return sign * (1 + episode.draw(4)) * scale


def skew_offset_ms(episode: Episode) -> int:
    magnitude = SKEW_MIN_MS + int((SKEW_MAX_MS - SKEW_MIN_MS) * episode.draw(3))
    return magnitude if episode.draw(4) < 0.5 else -magnitude


def rounded(value: float, is_float: bool, *, half_units: bool = False) -> Value:
    """As the device sends it: 2 decimals, whole numbers for integers, half units for narrowband floats (their
    radio's resolution, :func:`devices.narrowband.quantize`), so the truth log holds the value that is stored."""
    if not is_float:
        return round(value)
    return round(value * 2) / 2 if half_units else round(value, 2)
