"""The metric registry: what every device type reports, in which unit, type and range, and where it is stored.

It drives validation (gateway), line-protocol encoding (InfluxDB adapter), the API catalogue and the dashboards.
A field's type in InfluxDB is fixed for ever (per shard), so ``kind`` here never changes for an existing metric:
add a new metric instead. ``temporality`` says what a value means over time, which decides how it rolls up.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from smartcity.city.model import DeviceType


class MetricKind(enum.StrEnum):
    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    STRING = "string"


class Temporality(enum.StrEnum):
    """What one value of a metric means over time, and so how values combine into a roll-up."""

    GAUGE = "gauge"
    """A state at the reading's instant (a concentration, a level, a lamp switched on) or a statistic of the
    interval that does not add up (a mean speed, an Leq): roll up with mean, min and max, never sums."""
    AMOUNT = "amount"
    """What happened during the device's report interval (vehicles passed): roll up with sums."""
    REGISTER = "register"
    """A cumulative meter reading (kWh, m3 since installation): roll up with differences between consecutive
    readings, where a drop means the meter was reset or replaced (count from zero again), never sums."""


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    unit: str
    """SenML unit symbol (RFC 8428 / RFC 8798 registry); empty for unitless booleans and strings."""
    kind: MetricKind
    minimum: float | None
    maximum: float | None
    measurement: str
    """InfluxDB measurement the metric lands in; the field key is the metric name."""
    description: str
    max_length: int = 0
    """Longest accepted string value (STRING metrics only)."""
    temporality: Temporality = Temporality.GAUGE
    """Gauge, per-interval amount or cumulative register: how the metric's values roll up over time."""

    @property
    def field(self) -> str:
        return self.name


def _m(
    name: str,
    unit: str,
    kind: MetricKind,
    lo: float | None,
    hi: float | None,
    measurement: str,
    description: str,
    max_length: int = 0,
    temporality: Temporality = Temporality.GAUGE,
) -> MetricSpec:
    return MetricSpec(name, unit, kind, lo, hi, measurement, description, max_length, temporality)


F, INT, B, S = MetricKind.FLOAT, MetricKind.INT, MetricKind.BOOL, MetricKind.STRING
AMOUNT, REGISTER = Temporality.AMOUNT, Temporality.REGISTER

METRICS: Mapping[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        # outdoor air
        _m("no2", "ug/m3", F, 0, 2000, "air_quality", "nitrogen dioxide concentration"),
        _m("pm25", "ug/m3", F, 0, 1000, "air_quality", "fine particulate matter PM2.5"),
        _m("pm10", "ug/m3", F, 0, 2000, "air_quality", "particulate matter PM10"),
        _m("o3", "ug/m3", F, 0, 1000, "air_quality", "ozone concentration"),
        # indoor climate
        _m("co2", "ppm", F, 250, 10000, "indoor_climate", "carbon dioxide concentration indoors"),
        _m("indoor_temperature", "Cel", F, -10, 50, "indoor_climate", "room temperature"),
        _m("indoor_humidity", "%RH", F, 0, 100, "indoor_climate", "relative humidity indoors"),
        # noise: statistics of the interval that do not add up (Leq combines energetically, Lmax by max): gauges
        _m("laeq", "dB", F, 0, 150, "noise", "A-weighted equivalent sound level over the interval"),
        _m("lamax", "dB", F, 0, 160, "noise", "A-weighted maximum sound level over the interval"),
        # energy and water
        _m("power", "kW", F, 0, 100_000, "energy", "active power"),
        _m("energy", "kWh", F, 0, 1e12, "energy", "cumulative active energy (meter register)", 0, REGISTER),
        _m("water_flow", "l/s", F, 0, 10_000, "water", "water flow rate"),
        _m("water_volume", "m3", F, 0, 1e12, "water", "cumulative water volume (meter register)", 0, REGISTER),
        # people and vehicles
        _m("occupancy", "count", INT, 0, 100_000, "occupancy", "people present"),
        _m("occupied", "", B, None, None, "parking", "parking bay occupied"),
        _m("vehicle_count", "count", INT, 0, 100_000, "traffic", "vehicles passed during the interval", 0, AMOUNT),
        _m("vehicle_speed", "km/h", F, 0, 300, "traffic", "mean vehicle speed during the interval"),
        # street lights
        _m("lamp_on", "", B, None, None, "street_light", "lamp switched on"),
        _m("dim_level", "%", INT, 0, 100, "street_light", "dim level, 0 = off, 100 = full"),
        _m("lamp_power", "W", F, 0, 2000, "street_light", "lamp electrical power"),
        # weather
        _m("temperature", "Cel", F, -60, 60, "weather", "outdoor air temperature"),
        _m("humidity", "%RH", F, 0, 100, "weather", "outdoor relative humidity"),
        _m("wind_speed", "m/s", F, 0, 100, "weather", "mean wind speed"),
        _m("rain_rate", "mm/h", F, 0, 500, "weather", "precipitation rate"),
        _m("pressure", "hPa", F, 850, 1100, "weather", "barometric pressure"),
        # water level, waste, displays
        _m("water_level", "cm", F, -100, 2000, "flood", "water level above the reference"),
        _m("fill_level", "%", F, 0, 100, "waste", "waste bin fill level"),
        _m("message", "", S, None, None, "display", "text currently shown", max_length=256),
        _m("brightness", "%", INT, 0, 100, "display", "display brightness"),
        # device vitals, reported by any device that has them
        _m("battery", "%EL", F, 0, 100, "device_vitals", "remaining battery energy"),
        _m("rssi", "dBm", F, -150, 0, "device_vitals", "received signal strength of the last uplink"),
        _m("report_interval", "s", INT, 1, 86_400, "device_vitals", "configured reporting interval"),
    )
}

_VITALS = ("battery", "rssi", "report_interval")

DEVICE_METRICS: Mapping[DeviceType, tuple[str, ...]] = {
    DeviceType.AIR_QUALITY: ("no2", "pm25", "pm10", "o3", *_VITALS),
    DeviceType.INDOOR_CLIMATE: ("co2", "indoor_temperature", "indoor_humidity", *_VITALS),
    DeviceType.NOISE: ("laeq", "lamax", *_VITALS),
    DeviceType.ENERGY_METER: ("power", "energy", *_VITALS),
    DeviceType.WATER_METER: ("water_flow", "water_volume", *_VITALS),
    DeviceType.OCCUPANCY: ("occupancy", *_VITALS),
    DeviceType.PARKING_BAY: ("occupied", *_VITALS),
    DeviceType.STREET_LIGHT: ("lamp_on", "dim_level", "lamp_power", *_VITALS),
    DeviceType.TRAFFIC_COUNTER: ("vehicle_count", "vehicle_speed", *_VITALS),
    DeviceType.WEATHER: ("temperature", "humidity", "wind_speed", "rain_rate", "pressure", *_VITALS),
    DeviceType.FLOOD_LEVEL: ("water_level", *_VITALS),
    DeviceType.WASTE_BIN: ("fill_level", *_VITALS),
    DeviceType.INFO_DISPLAY: ("message", "brightness", *_VITALS),
}
"""The metrics each device type may report. A reading carries any non-empty subset of them."""


def metrics_for(device_type: DeviceType) -> dict[str, MetricSpec]:
    """Metric name -> spec for one device type."""
    return {name: METRICS[name] for name in DEVICE_METRICS[device_type]}


MEASUREMENTS: frozenset[str] = frozenset(spec.measurement for spec in METRICS.values())
