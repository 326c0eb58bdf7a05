"""What every simulated device shares: its reading pipeline (signals, faults, sequence numbers) and run context.

:class:`DeviceCore` produces the device's next readings as :class:`~smartcity.contract.reading.Reading` values
with faults applied; :mod:`devices.broadband` sends them over the device's own session and
:mod:`devices.narrowband` packs them into SenML uplinks. :class:`RunContext` bundles what all devices of a
worker use (topic scheme, clock, model, stats, settings). How their messages wait to go out is
:mod:`devices.outgoing`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from devices.clock import SimClock
from devices.device_episodes import DeviceEpisodes, TruthSink
from devices.episodes import EpisodePlan
from devices.faults import DeviceFaults, Fault
from devices.signals import DeviceContext, DeviceControls, SignalModel, battery_level
from devices.stats import RunStats
from smartcity.contract.metrics import METRICS, MetricKind
from smartcity.contract.reading import Reading, Value
from smartcity.contract.topics import TopicScheme

_DRIFT_PER_DAY = 0.02


@dataclass(slots=True)
class RunContext:
    """Shared by the devices of one worker."""

    scheme: TopicScheme
    clock: SimClock
    model: SignalModel
    stats: RunStats
    started: float = field(default_factory=time.monotonic)
    interval_override_s: float | None = None
    """Load mode: every device reports this often (wall seconds), whatever its configured interval."""
    stopping: bool = False
    burst: int = 1
    """Readings a broadband device sends per wake (written together); its rate stays the same."""
    gate_open: bool = True
    """Load mode closes it until every session of the worker is up, so the rate is measured in steady state."""
    episodes: EpisodePlan | None = None
    """Fault episodes in simulated time (:mod:`devices.episodes`); None: none."""
    truth: TruthSink | None = None
    """Where the episodes' ground-truth records go (``--truth FILE``)."""

    def elapsed(self) -> float:
        return time.monotonic() - self.started


class DeviceCore:
    """Sequence numbers, schedule and fault-shaped readings of one device."""

    def __init__(self, ctx: DeviceContext, run: RunContext, faults: DeviceFaults) -> None:
        self.ctx = ctx
        self.device_id = ctx.device.id
        self.run = run
        self.faults = faults
        self.controls = DeviceControls(report_interval_s=ctx.device.report_interval_s)
        self.seq = 0
        self.dead = False
        # Spread the first readings over one interval so devices do not all report at the same instant.
        self.next_ms = run.clock.origin_ms + int(self.interval_ms * _phase(ctx.key))
        self._stuck_value: Value | None = None
        self._cached_minute = -1
        self._cached_values: dict[str, Value] = {}
        self._primary = ctx.metrics[0]
        self.episodes: DeviceEpisodes | None = None
        if run.episodes is not None and run.episodes.active:
            self.episodes = DeviceEpisodes.for_device(run.episodes, run.model.seed, ctx, run.clock.origin_ms, run.truth)

    @property
    def interval_ms(self) -> int:
        if self.run.interval_override_s is not None:
            return max(1, int(self.run.interval_override_s * 1000 * self.run.clock.speed))
        return self.controls.report_interval_s * 1000

    def restart_schedule(self, sim_now_ms: int) -> None:
        """Next reading within one interval from ``sim_now_ms`` (at the device's own phase)."""
        self.next_ms = sim_now_ms + int(self.interval_ms * _phase(self.ctx.key))

    def due_readings(self, now_wall: float, limit: int) -> list[Reading]:
        """The readings whose time has come (at most ``limit``; the rest stay due)."""
        sim_now = self.run.clock.sim_ms(now_wall)
        readings: list[Reading] = []
        episodes = self.episodes
        while self.next_ms <= sim_now and len(readings) < limit and not self.dead:
            t_ms = self.next_ms
            self.next_ms += self.interval_ms
            if episodes is not None and episodes.lost(t_ms):
                self.seq += 1  # taken and lost on the way: the sequence jumps over it
                self.dead = episodes.dead
                continue
            readings.append(self.make_reading(t_ms))
        return readings

    def next_due_wall(self) -> float:
        return self.run.clock.wall_at(self.next_ms)

    def make_reading(self, t_ms: int) -> Reading:
        """One reading at simulated time ``t_ms`` with this device's faults applied; takes the next seq."""
        faults, stats = self.faults, self.run.stats
        if self.run.interval_override_s is None:
            values = self.run.model.sample(self.ctx, t_ms, self.controls)
        else:
            # Load mode: values are resampled once per simulated minute per device; sequence numbers and
            # timestamps still advance with every reading. Sampling is most of the CPU per reading otherwise.
            minute = t_ms // 60_000
            if self._cached_minute != minute:
                self._cached_values = self.run.model.sample(self.ctx, t_ms, self.controls)
                self._cached_minute = minute
            values = dict(self._cached_values)
        seq = self.seq
        self.seq += 1
        shift = 0 if self.episodes is None else self.episodes.shape(t_ms, values)  # before t_ms moves (skew)
        if faults.any:
            primary = self._primary
            if faults.has(Fault.STUCK) and seq >= 3:
                if self._stuck_value is None:
                    self._stuck_value = values[primary]
                values[primary] = self._stuck_value
                stats.fault(Fault.STUCK)
            if faults.has(Fault.DRIFT):
                values[primary] = _drifted(primary, values[primary], (t_ms - self.run.clock.origin_ms) / 86_400_000)
                stats.fault(Fault.DRIFT)
            if faults.has(Fault.BATTERY):
                life = max(0.0, 1.0 - self.run.elapsed() / faults.battery_life_s)
                values["battery"] = round(min(battery_level(self.ctx.key, t_ms / 1000, drain_per_day=0), 100) * life, 2)
            if faults.hits(Fault.SPIKES, seq) and _spike(primary, values):
                stats.fault(Fault.SPIKES)
                stats.spiked(self.device_id, seq)
            if faults.has(Fault.SKEW):
                t_ms += faults.skew_ms
                stats.fault(Fault.SKEW)
        stats.reading_made(self.device_id, seq)
        return Reading(self.device_id, seq, t_ms + shift, values)

    def battery_dead(self) -> bool:
        return self.faults.has(Fault.BATTERY) and self.run.elapsed() >= self.faults.battery_life_s


def _phase(key: int) -> float:
    return (key % 10_007) / 10_007


def _drifted(name: str, value: Value, days: float) -> Value:
    spec = METRICS[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or spec.minimum is None or spec.maximum is None:
        return value
    shifted = value + _DRIFT_PER_DAY * (spec.maximum - spec.minimum) * days
    shifted = min(spec.maximum, max(spec.minimum, shifted))
    return round(shifted) if spec.kind is MetricKind.INT else round(shifted, 2)


def _spike(name: str, values: dict[str, Value]) -> bool:
    """Push the metric out of its range; False for metrics that have no range (booleans, text)."""
    spec = METRICS[name]
    if spec.maximum is None or spec.kind in (MetricKind.BOOL, MetricKind.STRING):
        return False
    spike = spec.maximum * 1.5 + 10 if math.isfinite(spec.maximum) else 1e300
    values[name] = int(spike) if spec.kind is MetricKind.INT else float(spike)
    return True
