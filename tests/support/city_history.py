"""The filled city's history: a generated city's readings over a few simulated days, as line protocol.

Nothing here models a signal: the city comes from :func:`smartcity.city.generate.generate_city`, each device's
readings from the simulator's own :class:`devices.device_core.DeviceCore` (its schedule phase, sequence numbers and
:class:`devices.signals.SignalModel` values, as ``smartcity simulate --backfill`` produces them), narrowband
readings are cut to their radio's payload budget with the simulator's :func:`devices.narrowband.fit_reading`,
and every reading becomes points through the contract's :class:`smartcity.influx.lineprotocol.LineEncoder`,
the gateway's encoder. Report intervals are the devices' own (narrowband ones raised to their duty-cycle floor,
as the simulator does): about 155,000 readings per simulated day for the default city, so no coarsening is needed.

Timestamps are written relative to :data:`REFERENCE_END_MS` (all negative), so the cache does not depend on
when it was built. The history covers one day more than the data set loads: a load picks the window whose end
has the current UTC hour of day, so street lights are on at night and rush hours fall at 8:00 local time
whatever the hour of the load (weekdays are not aligned). The imperfections lie in the part of the history that
every such window contains.
"""

from __future__ import annotations

import dataclasses
import enum
import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from devices.clock import SimClock
from devices.device_core import DeviceCore, RunContext
from devices.faults import NO_FAULTS
from devices.narrowband import fit_reading, min_interval_s
from devices.signals import SignalModel
from devices.stats import RunStats
from smartcity.city.directory import DeviceDirectory
from smartcity.city.generate import generate_city
from smartcity.city.model import City, Device, DeviceType, NetworkClass, RadioProfile
from smartcity.contract.reading import Reading
from smartcity.contract.topics import TopicScheme
from smartcity.influx.lineprotocol import LineEncoder

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
REFERENCE_END_MS = 1_744_588_800_000
"""2025-04-14T00:00:00Z (a UTC midnight in spring: about 13 h of daylight): the simulated instant at which the
cached history ends. A load shifts it by whole days, so the hour of day of every reading is kept."""
GAP_HOURS = 6
"""How long the gap device is silent."""
LATE_DELAY_S = 2 * 3600
"""How late the late device's readings reach the platform (a LoRaWAN backlog), at most."""


@dataclass(frozen=True, slots=True)
class HistorySpec:
    """Everything the generated content depends on, besides the code that generates it."""

    devices: int = 450
    seed: int = 15
    """Seed 15 gives all 13 device types and all 8 facility kinds at 450 devices in 5 districts (a test holds it)."""
    districts: int = 5
    days: int = 3

    def __post_init__(self) -> None:
        if self.days < 2:
            raise ValueError(
                f"a history needs at least 2 days (its imperfections lie where every loaded window overlaps), "
                f"got {self.days}"
            )
        if self.devices < 1 or self.districts < 1:
            raise ValueError(f"devices and districts must be positive, got {self.devices} and {self.districts}")

    @property
    def span_ms(self) -> int:
        """What the cache holds: one day more than a load writes (see the module docstring)."""
        return (self.days + 1) * DAY_MS


class ImperfectionKind(enum.StrEnum):
    GAP = "gap"
    """No reading from the device in [start_ms, end_ms); its sequence numbers jump over the readings it lost."""
    LATE = "late"
    """A narrowband device whose readings arrive up to ``delay_s`` after their timestamps (marked only: its
    points are written with the others)."""
    METER_RESET = "meter-reset"
    """The device's cumulative ``metric`` restarts from zero at start_ms (= end_ms) and counts up from there."""


@dataclass(frozen=True, slots=True)
class Imperfection:
    """One deliberate flaw in the data set; times are epoch milliseconds (relative ones in the cache plan)."""

    kind: ImperfectionKind
    device_id: str
    start_ms: int
    end_ms: int
    detail: str
    metric: str | None = None
    delay_s: int = 0

    def shifted(self, by_ms: int) -> Imperfection:
        return dataclasses.replace(self, start_ms=self.start_ms + by_ms, end_ms=self.end_ms + by_ms)


def build_city(spec: HistorySpec) -> City:
    """The city of the history, from the project's generator (so it has every field the model has)."""
    return generate_city(devices=spec.devices, seed=spec.seed, districts=spec.districts)


def _first(devices: list[Device], *preferences: tuple[DeviceType | None, NetworkClass | None]) -> Device | None:
    for device_type, network in preferences:
        for device in devices:
            if device_type in (None, device.type) and network in (None, device.network):
                return device
    return None


def plan_imperfections(city: City, spec: HistorySpec) -> tuple[Imperfection, ...]:
    """Which devices carry the flaws and when, relative to :data:`REFERENCE_END_MS` (negative milliseconds).

    Devices are picked by rule (lowest id first, three different devices), so a smaller test city gets them too:
    the reset on an energy meter (``energy``) or else a water meter (``water_volume``), broadband if there is
    one; the lateness on a LoRaWAN device, else any narrowband one; the gap on a broadband air-quality sensor
    (its 60 s readings make it stand out), else any broadband device.
    """
    devices = sorted(city.devices, key=lambda device: device.id)
    broad, narrow = NetworkClass.BROADBAND, NetworkClass.NARROWBAND
    meter = _first(devices, (DeviceType.ENERGY_METER, broad), (DeviceType.ENERGY_METER, None))
    meter = meter or _first(devices, (DeviceType.WATER_METER, broad), (DeviceType.WATER_METER, None))
    others = [device for device in devices if device is not meter]
    lorawan = [d for d in others if d.radio in (RadioProfile.LORAWAN_SF12, RadioProfile.LORAWAN_SF7)]
    late = _first(lorawan, (None, narrow)) or _first(others, (None, narrow))
    others = [device for device in others if device is not late]
    gap = _first(others, (DeviceType.AIR_QUALITY, broad), (None, broad), (None, None))
    if gap is None or late is None or meter is None:
        raise ValueError(
            f"{spec} lacks a narrowband device, an energy or water meter or a third device: pick another size or seed"
        )
    gap_start = -spec.days * DAY_MS + 6 * HOUR_MS
    reset_at = -30 * HOUR_MS
    metric = "energy" if meter.type is DeviceType.ENERGY_METER else "water_volume"
    return (
        Imperfection(
            ImperfectionKind.GAP,
            gap.id,
            gap_start,
            gap_start + GAP_HOURS * HOUR_MS,
            f"silent for {GAP_HOURS} h (readings lost on the way: sequence numbers jump over them)",
        ),
        Imperfection(
            ImperfectionKind.LATE,
            late.id,
            -spec.span_ms,
            0,
            f"readings arrive up to {LATE_DELAY_S} s after their timestamps (a LoRaWAN backlog); written with the rest",
            delay_s=LATE_DELAY_S,
        ),
        Imperfection(
            ImperfectionKind.METER_RESET,
            meter.id,
            reset_at,
            reset_at,
            f"{metric} register restarts from 0 (meter replaced) and counts up from there",
            metric=metric,
        ),
    )


@dataclass(slots=True)
class _Track:
    """One device while its history is made: the simulator's core plus what the plan does to it."""

    core: DeviceCore
    budget: int = 0
    """Narrowband payload budget in bytes (0: broadband, readings go whole)."""
    skip_from: int = 0
    skip_to: int = 0
    register: str = ""
    reset_at: int = 0
    reset_base: float = 0.0


def _tracks(
    devices: Sequence[Device], spec: HistorySpec, run: RunContext, imperfections: tuple[Imperfection, ...]
) -> list[_Track]:
    model = run.model
    flaws = {flaw.device_id: flaw for flaw in imperfections}
    tracks = []
    for device in devices:
        track = _Track(DeviceCore(model.context(device), run, NO_FAULTS.for_device(spec.seed, device.id, None)))
        if device.network is NetworkClass.NARROWBAND and device.radio is not None:
            # as devices.narrowband.NarrowbandDevice does: never more often than the duty cycle allows
            track.core.controls.report_interval_s = max(device.report_interval_s, min_interval_s(device.radio))
            track.budget = device.radio.payload_budget
        flaw = flaws.get(device.id)
        if flaw is not None and flaw.kind is ImperfectionKind.GAP:
            track.skip_from, track.skip_to = REFERENCE_END_MS + flaw.start_ms, REFERENCE_END_MS + flaw.end_ms
        elif flaw is not None and flaw.kind is ImperfectionKind.METER_RESET and flaw.metric is not None:
            track.register, track.reset_at = flaw.metric, REFERENCE_END_MS + flaw.start_ms
            sample = model.sample(track.core.ctx, track.reset_at, track.core.controls)
            track.reset_base = float(sample[flaw.metric])
        tracks.append(track)
    return tracks


def history_part(spec: HistorySpec, part: int, parts: int) -> list[str]:
    """The lines of every ``parts``-th device from ``part`` on: one worker process's share of the history."""
    city = build_city(spec)
    return list(history_lines(city, spec, plan_imperfections(city, spec), part=part, parts=parts))


def history_lines(
    city: City, spec: HistorySpec, imperfections: tuple[Imperfection, ...], *, part: int = 0, parts: int = 1
) -> Iterator[str]:
    """The points of the history (of the devices ``city.devices[part::parts]``) in time order, ties by device
    order, timestamps relative to the reference end.

    Devices take turns by due time like the simulator's scheduler, so the district weather the signal model
    caches per minute is computed once per district and minute, not once per reading.
    """
    model = SignalModel(city, spec.seed)
    clock = SimClock(start_ms=REFERENCE_END_MS, backfill_s=spec.span_ms / 1000)
    run = RunContext(scheme=TopicScheme("city"), clock=clock, model=model, stats=RunStats())
    encoder = LineEncoder(DeviceDirectory.from_city(city))
    tracks = _tracks(city.devices[part::parts], spec, run, imperfections)
    heap = [(track.core.next_ms, index) for index, track in enumerate(tracks)]
    heapq.heapify(heap)
    while heap:
        t_ms, index = heap[0]
        if t_ms >= REFERENCE_END_MS:
            break
        track = tracks[index]
        core = track.core
        core.next_ms += core.interval_ms
        heapq.heapreplace(heap, (core.next_ms, index))
        reading = core.make_reading(t_ms)  # takes the next sequence number, also for a lost reading
        if track.skip_from <= t_ms < track.skip_to:
            continue
        values = reading.values
        if track.register and t_ms >= track.reset_at:
            values = {**values, track.register: round(float(values[track.register]) - track.reset_base, 2)}
        if track.budget:  # sized with its real timestamp, as the device sends it
            values = fit_reading(Reading(reading.device_id, reading.seq, t_ms, values), track.budget).values
        yield from encoder.encode(Reading(reading.device_id, reading.seq, t_ms - REFERENCE_END_MS, values))
