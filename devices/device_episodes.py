"""One device's fault episodes while it runs: which are on at a reading's time, what they do to the reading, and the
ground-truth records they leave (:mod:`smartcity.quality_truth`).

:class:`~devices.device_core.DeviceCore` asks :meth:`DeviceEpisodes.lost` for every scheduled reading (offline and
dead devices lose it) and lets :meth:`DeviceEpisodes.shape` change the values and timestamp of each reading it
makes. A fault's record is written when the first reading at or after its onset is due (``end`` null) and again,
with its end, at the first reading due after it ended. The plan is :mod:`devices.episodes`.
"""

from __future__ import annotations

from typing import Any, Protocol

from devices.episodes import (
    DAY_MS,
    SHAPES,
    Episode,
    EpisodePlan,
    drift_per_day,
    rounded,
    skew_offset_ms,
    spiked_value,
)
from devices.signals import DeviceContext
from smartcity.city.model import NetworkClass
from smartcity.contract.reading import Value
from smartcity.quality_truth import FaultKind, TruthRecord, ms_to_datetime, rfc3339_ms

_NEVER = 1 << 62
_ORDER = (FaultKind.OFFLINE, FaultKind.BATTERY, FaultKind.STUCK, FaultKind.DRIFT, FaultKind.SPIKE, FaultKind.SKEW)
"""The order faults shape a reading in: a spike jumps from the drifted value, and is what gets sent."""


class TruthSink(Protocol):
    """Where the records go (:class:`smartcity.quality_truth.TruthWriter`, or a list's ``append`` in tests)."""

    def write(self, record: TruthRecord) -> None: ...


class DeviceEpisodes:
    """The episodes of one device (built by :meth:`for_device`; None when none can ever apply)."""

    __slots__ = (
        "_active",
        "_begun",
        "_fired",
        "_params",
        "_valid_until",
        "ctx",
        "dead",
        "device_id",
        "half_units",
        "kinds",
        "limits",
        "metric",
        "origin_ms",
        "plan",
        "seed",
        "sink",
    )

    def __init__(
        self, plan: EpisodePlan, seed: int, ctx: DeviceContext, origin_ms: int, sink: TruthSink | None
    ) -> None:
        self.plan, self.seed, self.ctx, self.origin_ms, self.sink = plan, seed, ctx, origin_ms, sink
        self.device_id = ctx.device.id
        self.half_units = ctx.device.network is NetworkClass.NARROWBAND
        self.metric = ctx.metrics[0]
        self.limits = ctx.limits[0]  # (name, True float / False int / None other, minimum, maximum)
        numeric = self.limits[1] is not None
        kinds = []
        for kind in plan.rates:
            if kind in (FaultKind.STUCK, FaultKind.SPIKE, FaultKind.DRIFT) and not numeric:
                continue
            if kind is FaultKind.BATTERY and not ctx.battery_powered:
                continue
            kinds.append(kind)
        self.kinds = tuple(sorted(kinds, key=_ORDER.index))
        self.dead = False
        self._active: tuple[Episode, ...] = ()
        self._valid_until = -1
        self._begun: dict[Episode, TruthRecord] = {}
        self._params: dict[Episode, float] = {}
        self._fired: set[Episode] = set()

    @classmethod
    def for_device(
        cls, plan: EpisodePlan, seed: int, ctx: DeviceContext, origin_ms: int, sink: TruthSink | None
    ) -> DeviceEpisodes | None:
        episodes = cls(plan, seed, ctx, origin_ms, sink)
        return episodes if episodes.kinds else None

    # -- which episodes are on -------------------------------------------------------------------------------
    def _sync(self, t_ms: int) -> None:
        if t_ms >= self._valid_until:
            self._refresh(t_ms)
        if not self._begun:
            return
        for episode in [e for e in self._begun if e.kind is not FaultKind.BATTERY and e.end_ms <= t_ms]:
            record = self._begun.pop(episode)
            self._params.pop(episode, None)
            if episode.kind is not FaultKind.SPIKE:
                self._emit(TruthRecord(**{**_fields(record), "end": ms_to_datetime(episode.end_ms)}))

    def _refresh(self, t_ms: int) -> None:
        active: list[Episode] = []
        until = _NEVER
        for kind in self.kinds:
            slot_ms = SHAPES[kind].slot_days * DAY_MS
            slot = t_ms // slot_ms
            until = min(until, (slot + 1) * slot_ms)
            for candidate_slot in (slot - 1, slot):
                episode = self.plan.episode(self.seed, self.device_id, kind, candidate_slot)
                if episode is None or episode.start_ms < self.origin_ms:
                    continue
                if kind is FaultKind.SPIKE:
                    if episode.start_ms <= t_ms and episode not in self._fired:
                        active.append(episode)
                    elif episode.start_ms > t_ms:
                        until = min(until, episode.start_ms)
                    continue
                stop = _NEVER if kind is FaultKind.BATTERY else episode.end_ms
                if episode.start_ms <= t_ms < stop:
                    active.append(episode)
                    until = min(until, stop)
                elif episode.start_ms > t_ms:
                    until = min(until, episode.start_ms)
        self._active = tuple(active)
        self._valid_until = until

    # -- what they do ----------------------------------------------------------------------------------------
    def lost(self, t_ms: int) -> bool:
        """Whether the reading due at ``t_ms`` is lost (offline, or the battery died: then :attr:`dead`)."""
        if self.dead:
            return True
        self._sync(t_ms)
        for episode in self._active:
            if episode.kind is FaultKind.OFFLINE:
                self._begin(episode, None, {"cause": "dropout"})
                return True
            if episode.kind is FaultKind.BATTERY and t_ms >= episode.end_ms:
                self._begin(episode, None, {"death": rfc3339_ms(ms_to_datetime(episode.end_ms))})
                self._emit(
                    TruthRecord(
                        device=self.device_id,
                        kind=FaultKind.OFFLINE,
                        start=ms_to_datetime(episode.end_ms),
                        end=None,
                        metric=None,
                        detail={"cause": "battery"},
                    )
                )
                self.dead = True
                return True
        return False

    def shape(self, t_ms: int, values: dict[str, Value]) -> int:
        """Apply the value faults on at ``t_ms`` to ``values`` (in place); returns the clock offset to add."""
        self._sync(t_ms)
        if not self._active:
            return 0
        shift = 0
        metric, (_, is_float, low, high) = self.metric, self.limits
        stuck = any(episode.kind is FaultKind.STUCK for episode in self._active)
        for episode in self._active:
            kind = episode.kind
            if kind is FaultKind.SKEW:
                offset = skew_offset_ms(episode)
                self._begin(episode, None, {"offset_ms": offset})
                shift += offset
                continue
            if kind is FaultKind.BATTERY:
                level = self._params.get(episode)
                if level is None:
                    level = self._params[episode] = float(values.get("battery", 100.0))
                death = rfc3339_ms(ms_to_datetime(episode.end_ms))
                self._begin(episode, None, {"level": level, "death": death})
                left = max(0.0, 1 - (t_ms - episode.start_ms) / max(1, episode.end_ms - episode.start_ms))
                values["battery"] = round(level * left, 2)
                continue
            value = values.get(metric)
            if is_float is None or not isinstance(value, int | float) or isinstance(value, bool):
                continue
            if stuck and kind is not FaultKind.STUCK:
                if kind is FaultKind.SPIKE:  # a stuck sensor does not spike: this one never happens
                    self._fired.add(episode)
                    self._valid_until = -1
                continue  # a drift on a stuck sensor shows (and is recorded) once the sensor moves again
            if kind is FaultKind.STUCK:
                held = self._params.setdefault(episode, float(rounded(value, is_float, half_units=self.half_units)))
                self._begin(episode, metric, {"value": held})
                values[metric] = rounded(held, is_float, half_units=self.half_units)
            elif kind is FaultKind.DRIFT:
                per_day = self._params.get(episode)
                if per_day is None:
                    per_day = self._params[episode] = drift_per_day(episode, metric, float(value))
                self._begin(episode, metric, {"per_day": round(per_day, 3)})
                drifted = value + per_day * (t_ms - episode.start_ms) / DAY_MS
                values[metric] = rounded(min(high, max(low, drifted)), is_float, half_units=self.half_units)
            elif kind is FaultKind.SPIKE:
                self._fired.add(episode)
                self._valid_until = -1  # the spike is spent: recompute what is on at the next reading
                jumped = spiked_value(episode, metric, float(value), low, high)
                spike = rounded(jumped, is_float, half_units=self.half_units)
                values[metric] = spike
                at = ms_to_datetime(t_ms)
                detail = {"value": spike, "expected": value}
                record = TruthRecord(device=self.device_id, kind=kind, start=at, end=at, metric=metric, detail=detail)
                self._emit(record)
        return shift

    # -- truth -----------------------------------------------------------------------------------------------
    def _begin(self, episode: Episode, metric: str | None, detail: dict[str, Any]) -> None:
        if episode in self._begun:
            return
        record = TruthRecord(
            device=self.device_id,
            kind=episode.kind,
            start=ms_to_datetime(episode.start_ms),
            end=None,
            metric=metric,
            detail=detail,
        )
        self._begun[episode] = record
        self._emit(record)

    def _emit(self, record: TruthRecord) -> None:
        if self.sink is not None:
            self.sink.write(record)


def _fields(record: TruthRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__struct_fields__}
