"""The departments a generated city declares, and which facility kinds and metrics each one owns.

Ownership answers "whose data is this": the department owning a facility kind answers for those facilities (a
school is education's), the department owning a metric publishes it (energy readings of that school are the energy
department's). Every facility kind and every metric of the registry has exactly one owner here (a unit test holds
it); a city file may declare its own departments instead.
"""

from __future__ import annotations

from smartcity.city.model import Department, FacilityKind

_K = FacilityKind

_DEFAULTS: tuple[tuple[str, str, tuple[FacilityKind, ...], tuple[str, ...]], ...] = (
    (
        "environment", "Environment", (_K.PARK,),
        ("no2", "pm25", "pm10", "o3", "laeq", "lamax", "temperature", "humidity", "wind_speed", "rain_rate",
         "pressure", "water_level"),
    ),
    ("transport", "Transport", (_K.STREET_SEGMENT, _K.CAR_PARK), ("occupied", "vehicle_count", "vehicle_speed")),
    ("education", "Education", (_K.SCHOOL, _K.LIBRARY), ()),
    ("health", "Health", (_K.HOSPITAL,), ()),
    ("social-care", "Social Care", (_K.NURSING_HOME,), ()),
    ("energy", "Energy and Water", (), ("power", "energy", "water_flow", "water_volume")),
    (
        "operations", "Operations", (_K.PUBLIC_BUILDING,),
        ("co2", "indoor_temperature", "indoor_humidity", "occupancy", "lamp_on", "dim_level", "lamp_power",
         "fill_level", "message", "brightness", "battery", "rssi", "report_interval"),
    ),
)  # fmt: skip


def default_departments() -> list[Department]:
    """The generator's departments (also given to a city file that declares none, and to version-1 files)."""
    return [
        Department(id=ident, name=name, facility_kinds=list(kinds), metrics=list(metrics))
        for ident, name, kinds, metrics in _DEFAULTS
    ]
