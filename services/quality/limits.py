"""What is plausible for each metric: its resolution, how long it may hold one value, where it may rest.

A sensor that reports the same value (within its resolution) for longer than ``stuck_after_h`` is stuck, unless
the value is one it legitimately rests at: a closed school counts 0 people all night, a street light draws 0 W
all day, it does not rain for weeks. Setpoints (a lamp's dim level, a display's brightness) are held by design
and set by command: never stuck, never a spike, never a drift from the peers. Metrics that are not numbers,
registers and vitals are not checked here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from smartcity.contract.metrics import METRICS, MetricKind, MetricSpec, Temporality

_VITALS = frozenset({"battery", "rssi", "report_interval"})


@dataclass(frozen=True, slots=True)
class MetricLimits:
    resolution: float
    """The smallest change the sensor reports (the simulator rounds floats to 0.01 and counts to 1)."""
    stuck_after_h: float | None
    """Longest plausible run of one value; None: never stuck (a setpoint)."""
    rests_at: tuple[float, ...] = ()
    """Values the metric may hold for any length of time."""
    spread: float = 1.0
    """A typical short-term noise level: the floor of a robust scale (a flat history has a MAD of 0)."""
    spikes: bool = True
    """Lone outliers are faults; not for a quantity made of single events (a level's maximum per interval) or
    switched between states (a lamp's power)."""
    peers: bool = True
    """Comparable with the same type's devices at the same kind of facility (drift); not for quantities set by
    each installation (a lamp's power, set by its dimming) or by its own schedule (a bin's fill level between
    emptyings)."""
    fills: bool = False
    """Fills between emptyings (a bin's level): its drift is judged at its emptyings, where it should restart
    near empty (:mod:`services.quality.fill_checks`)."""
    ambient: bool = False
    """The outdoor air or weather around the device, the same at any kind of facility in a district: with too
    few peers at its kind of facility, its type's devices at any facility are its peers (an air sensor at the
    city's only monitored school)."""
    proportional: bool = False
    """A multiple of the peers' level, set by the facility's size or the installation's rating (people in a hall,
    a building's power and water draw, vehicles per reading): compared with the peers as a ratio
    (:mod:`services.quality.peer_checks`)."""


_DEFAULT_FLOAT = MetricLimits(resolution=0.01, stuck_after_h=3.0, spread=0.5)
_DEFAULT_INT = MetricLimits(resolution=0.5, stuck_after_h=8.0, rests_at=(0.0,), spread=1.0)

_OVERRIDES: Mapping[str, MetricLimits] = {
    "pm25": MetricLimits(0.01, 3.0, spread=1.0, ambient=True),
    "pm10": MetricLimits(0.01, 3.0, spread=1.5, ambient=True),
    "no2": MetricLimits(0.01, 3.0, spread=1.5, ambient=True),
    "o3": MetricLimits(0.01, 3.0, spread=2.0, ambient=True),
    "co2": MetricLimits(0.01, 3.0, spread=10.0),
    "laeq": MetricLimits(0.01, 3.0, spread=1.0),
    "lamax": MetricLimits(0.01, 3.0, spread=1.5, spikes=False),
    "power": MetricLimits(0.01, 6.0, rests_at=(0.0,), spread=0.5, proportional=True),
    "water_flow": MetricLimits(0.01, 24.0, rests_at=(0.0,), spread=0.5, proportional=True),
    "occupancy": MetricLimits(0.5, 8.0, rests_at=(0.0,), spread=2.0, proportional=True),
    "vehicle_count": MetricLimits(0.5, 6.0, rests_at=(0.0,), spread=2.0, proportional=True),
    "vehicle_speed": MetricLimits(0.01, 6.0, rests_at=(0.0,), spread=2.0),
    "lamp_power": MetricLimits(0.01, 20.0, rests_at=(0.0,), spread=1.0, spikes=False, peers=False),
    "dim_level": MetricLimits(0.5, None, spikes=False, peers=False),
    "brightness": MetricLimits(0.5, None, spikes=False, peers=False),
    "rain_rate": MetricLimits(0.01, 6.0, rests_at=(0.0,), spread=0.5, ambient=True),
    "wind_speed": MetricLimits(0.01, 6.0, rests_at=(0.0,), spread=0.3, ambient=True),
    "temperature": MetricLimits(0.01, 3.0, spread=0.3, ambient=True),
    "humidity": MetricLimits(0.01, 3.0, spread=1.0, ambient=True),
    "pressure": MetricLimits(0.01, 3.0, spread=0.5, ambient=True),
    "indoor_temperature": MetricLimits(0.01, 6.0, spread=0.2),
    "indoor_humidity": MetricLimits(0.01, 3.0, spread=1.0),
    "water_level": MetricLimits(0.01, 3.0, spread=0.5),
    "fill_level": MetricLimits(0.01, 6.0, rests_at=(0.0,), spread=1.5, peers=False, fills=True),
}


def checked(spec: MetricSpec) -> bool:
    """True for the metrics the value detectors look at: numbers that are neither registers nor vitals."""
    return (
        spec.kind in (MetricKind.FLOAT, MetricKind.INT)
        and spec.temporality is not Temporality.REGISTER
        and spec.name not in _VITALS
    )


def limits_of(metric: str) -> MetricLimits:
    override = _OVERRIDES.get(metric)
    if override is not None:
        return override
    return _DEFAULT_INT if METRICS[metric].kind is MetricKind.INT else _DEFAULT_FLOAT


CHECKED_METRICS: tuple[str, ...] = tuple(name for name, spec in METRICS.items() if checked(spec))
