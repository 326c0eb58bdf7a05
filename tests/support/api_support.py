"""The planning API's test city and how its tests write readings and open the app.

The city is hand-made from the shared building blocks (:mod:`tests.support.cities`) so each test knows exactly which
facility lies where: two box districts whose polygons are triangles (south-west, north-west, north-east), so a
facility can be assigned to a district yet lie outside its polygon. Readings are written through the contract's
:class:`~smartcity.influx.lineprotocol.LineEncoder`, as the gateway writes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.api.keys import Role
from services.api.settings import ApiSettings
from services.api.state import StateStore
from smartcity.city.directory import DeviceDirectory
from smartcity.city.model import BBox, City, DeviceType, Facility, FacilityKind, GeoPoint, NetworkClass, RadioProfile
from smartcity.contract.reading import Reading
from smartcity.influx.lineprotocol import LineEncoder
from smartcity.settings import InfluxSettings
from tests.support.cities import ULA, box_district, device_at

NORTH = box_district(
    "north",
    "North",
    BBox(min_lat=50.00, min_lon=7.00, max_lat=50.05, max_lon=7.05),
    centre=GeoPoint(lat=50.025, lon=7.025),
    prefix=IPv6Network("fd12:3456:789a:1::/64"),
    population=20_000,
)
SOUTH = box_district(
    "south",
    "South",
    BBox(min_lat=49.90, min_lon=7.00, max_lat=49.95, max_lon=7.05),
    centre=GeoPoint(lat=49.925, lon=7.025),
    prefix=IPv6Network("fd12:3456:789a:2::/64"),
    population=15_000,
)


def _facility(ident: str, kind: FacilityKind, district: str, lat: float, lon: float) -> Facility:
    return Facility(id=ident, kind=kind, name=ident.title(), district_id=district, location=GeoPoint(lat=lat, lon=lon))


FACILITIES = [
    _facility("school-n", FacilityKind.SCHOOL, "north", 50.030, 7.010),  # inside north's triangle
    _facility("park-n", FacilityKind.PARK, "north", 50.045, 7.020),  # inside
    _facility("street-n", FacilityKind.STREET_SEGMENT, "north", 50.005, 7.045),  # assigned to north, outside it
    _facility("school-s", FacilityKind.SCHOOL, "south", 49.940, 7.010),
    _facility("carpark-s", FacilityKind.CAR_PARK, "south", 49.945, 7.030),
]
_AT = {f.id: f for f in FACILITIES}
DEVICES = [
    ("aq-n1", DeviceType.AIR_QUALITY, "school-n", 60),
    ("aq-n2", DeviceType.AIR_QUALITY, "park-n", 60),
    ("noise-n1", DeviceType.NOISE, "street-n", 60),
    ("light-n1", DeviceType.STREET_LIGHT, "street-n", 300),
    ("aq-s1", DeviceType.AIR_QUALITY, "school-s", 60),
    ("display-s1", DeviceType.INFO_DISPLAY, "school-s", 600),
    ("park-s1", DeviceType.PARKING_BAY, "carpark-s", 900),
]


def api_city() -> City:
    devices = []
    for number, (ident, device_type, facility, interval) in enumerate(DEVICES, start=1):
        narrow = device_type is DeviceType.PARKING_BAY
        subnet = 1 if _AT[facility].district_id == "north" else 2
        devices.append(
            device_at(
                _AT[facility],
                ident,
                device_type,
                IPv6Address(f"fd12:3456:789a:{subnet}::{number:x}"),
                network=NetworkClass.NARROWBAND if narrow else NetworkClass.BROADBAND,
                radio=RadioProfile.LORAWAN_SF7 if narrow else None,
                report_interval_s=interval,
            )
        )
    return City(
        name="Apiville", seed=1, ula_prefix=ULA, districts=[NORTH, SOUTH], facilities=FACILITIES, devices=devices
    )


def write_api_city(path: Path) -> Path:
    path.write_text(api_city().model_dump_json(indent=1), encoding="utf-8")
    return path


def api_settings(tmp_path: Path, influx: InfluxSettings, **overrides: object) -> ApiSettings:
    """Settings for a test app: the test city, a state file under ``tmp_path``, fast refreshes."""
    values: dict[str, object] = {
        "influx": influx,
        "city_file": write_api_city(tmp_path / "city.json"),
        "state_file": tmp_path / "state.sqlite",
        "latest_refresh_s": 0.2,
        "health_refresh_s": 0.2,
    }
    return ApiSettings.model_validate(values | overrides)


def create_key(settings: ApiSettings, role: Role, districts: tuple[str, ...] = ()) -> str:
    with StateStore(settings.state_file) as store:
        return store.create(role, districts, f"test {role.value}")[1]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def running(settings: ApiSettings) -> Iterator[TestClient]:
    """The app with its lifespan running (refresher included)."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def write_readings(influx: InfluxSettings, readings: Iterable[Reading]) -> None:
    """Write readings as the gateway does (the contract's encoder, ms precision), synchronously."""
    encoder = LineEncoder(DeviceDirectory.from_city(api_city()))
    body = "\n".join(line for reading in readings for line in encoder.encode(reading)).encode()
    with httpx.Client(base_url=influx.url, trust_env=False, timeout=30.0) as client:
        response = client.post("/write", params={"db": influx.database, "precision": "ms"}, content=body)
    assert response.status_code == 204, response.text


def influxql(influx: InfluxSettings, statement: str, params: dict[str, str | int] | None = None) -> httpx.Response:
    """Plain InfluxQL (values as bind parameters), to check what the API answers against the store itself."""
    data = {"q": statement, "db": influx.database, "epoch": "ms"}
    if params:
        data["params"] = json.dumps(params)
    with httpx.Client(base_url=influx.url, trust_env=False, timeout=30.0) as client:
        return client.post("/query", data=data)
