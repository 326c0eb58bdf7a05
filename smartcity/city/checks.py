"""Cross-reference checks of a city that the model alone cannot express.

Each finding is one line that names the path of the bad element, the way a city engineer would look for it in the
file: ``devices[12] (pb-000013).facility_id: unknown facility 'cp-0099'``. The checks run in one pass over each
collection and compare integers rather than ``ipaddress`` objects, so a 100,000-device city is checked in well
under a second.
"""

from __future__ import annotations

from ipaddress import IPv6Network

from smartcity.city.addressing import SUBNET_PREFIX_LEN, ULA_PREFIX_LEN, is_reserved_iid
from smartcity.city.model import City, FacilityKind, NetworkClass, RadioProfile
from smartcity.contract.metrics import DEVICE_METRICS, METRICS

_LOCAL_ULA = IPv6Network("fd00::/8")
_IID_MASK = (1 << 64) - 1
_RADIOS = ", ".join(r.value for r in RadioProfile)


def _at(collection: str, index: int, ident: str, field: str) -> str:
    return f"{collection}[{index}] ({ident}).{field}"


def _plan_problems(city: City) -> list[str]:
    ula = city.ula_prefix
    problems = []
    if ula.prefixlen != ULA_PREFIX_LEN:
        problems.append(f"ula_prefix: must be a /{ULA_PREFIX_LEN} (one per deployment), got {ula}")
    if not ula.subnet_of(_LOCAL_ULA):
        problems.append(f"ula_prefix: must be a locally assigned unique local prefix inside fd00::/8, got {ula}")
    return problems


def _district_problems(city: City) -> list[str]:
    problems: list[str] = []
    ids: dict[str, int] = {}
    prefixes: dict[IPv6Network, int] = {}
    ula = city.ula_prefix
    for i, d in enumerate(city.districts):
        if d.id in ids:
            problems.append(_at("districts", i, d.id, "id") + f": duplicate id, first used by districts[{ids[d.id]}]")
        ids.setdefault(d.id, i)
        if d.prefix.prefixlen != SUBNET_PREFIX_LEN:
            problems.append(_at("districts", i, d.id, "prefix") + f": must be a /{SUBNET_PREFIX_LEN}, got {d.prefix}")
        elif not d.prefix.subnet_of(ula):
            problems.append(_at("districts", i, d.id, "prefix") + f": {d.prefix} is outside the city's {ula}")
        if d.prefix in prefixes:
            first = prefixes[d.prefix]
            problems.append(
                _at("districts", i, d.id, "prefix") + f": {d.prefix} is also the prefix of districts[{first}]"
            )
        prefixes.setdefault(d.prefix, i)
        if d.polygon[0] != d.polygon[-1]:
            first_point = f"({d.polygon[0].lat}, {d.polygon[0].lon})"
            problems.append(
                _at("districts", i, d.id, "polygon") + f": ring is not closed: the last point must repeat the first "
                f"{first_point}"
            )
        box = d.bbox
        if box.min_lat > box.max_lat or box.min_lon > box.max_lon:
            problems.append(_at("districts", i, d.id, "bbox") + ": min_lat/min_lon must not exceed max_lat/max_lon")
        elif not box.contains(d.centre):
            problems.append(_at("districts", i, d.id, "centre") + f": ({d.centre.lat}, {d.centre.lon}) is outside bbox")
    return problems


def _department_problems(city: City) -> list[str]:
    """Unique ids; every facility kind and metric the city uses has exactly one owning department."""
    problems: list[str] = []
    ids: dict[str, int] = {}
    kind_owner: dict[FacilityKind, str] = {}
    metric_owner: dict[str, str] = {}
    for i, d in enumerate(city.departments):
        if d.id in ids:
            first = ids[d.id]
            problems.append(_at("departments", i, d.id, "id") + f": duplicate id, first used by departments[{first}]")
        ids.setdefault(d.id, i)
        for j, kind in enumerate(d.facility_kinds):
            if kind in kind_owner:
                problems.append(
                    _at("departments", i, d.id, f"facility_kinds[{j}]") + f": {kind.value!r} is already owned by "
                    f"department {kind_owner[kind]!r}"
                )
            kind_owner.setdefault(kind, d.id)
        for j, metric in enumerate(d.metrics):
            if metric not in METRICS:
                problems.append(_at("departments", i, d.id, f"metrics[{j}]") + f": unknown metric {metric!r}")
            elif metric in metric_owner:
                problems.append(
                    _at("departments", i, d.id, f"metrics[{j}]") + f": {metric!r} is already owned by department "
                    f"{metric_owner[metric]!r}"
                )
            metric_owner.setdefault(metric, d.id)
    first_of_kind: dict[FacilityKind, int] = {}
    for i, f in enumerate(city.facilities):
        first_of_kind.setdefault(f.kind, i)
    for kind, i in first_of_kind.items():
        if kind not in kind_owner:
            problems.append(
                f"departments: no department owns facility kind {kind.value!r} (used by facilities[{i}] "
                f"({city.facilities[i].id}))"
            )
    first_of_type: dict[str, int] = {}
    for i, device in enumerate(city.devices):
        first_of_type.setdefault(device.type, i)
    for device_type, i in first_of_type.items():
        for metric in DEVICE_METRICS[city.devices[i].type]:
            if metric not in metric_owner:
                problems.append(
                    f"departments: no department owns metric {metric!r} (reported by devices[{i}] "
                    f"({city.devices[i].id}), a {device_type})"
                )
                metric_owner[metric] = ""  # reported once
    return problems


def _facility_problems(city: City, districts: set[str]) -> list[str]:
    problems: list[str] = []
    ids: dict[str, int] = {}
    for i, f in enumerate(city.facilities):
        if f.id in ids:
            problems.append(_at("facilities", i, f.id, "id") + f": duplicate id, first used by facilities[{ids[f.id]}]")
        ids.setdefault(f.id, i)
        if f.district_id not in districts:
            problems.append(_at("facilities", i, f.id, "district_id") + f": unknown district {f.district_id!r}")
        if f.capacity_unit is not None and f.capacity is None:
            problems.append(_at("facilities", i, f.id, "capacity_unit") + ": set, but the facility has no capacity")
        if f.floor_area_m2 is not None and not f.kind.is_building:
            problems.append(
                _at("facilities", i, f.id, "floor_area_m2") + f": a {f.kind.value} is not a building; remove it"
            )
    return problems


def _device_problems(city: City) -> list[str]:
    problems: list[str] = []
    # devices are checked only against well-formed district prefixes: a bad prefix is reported once, at its district
    good_prefix = {
        d.id: d.prefix.prefixlen == SUBNET_PREFIX_LEN and d.prefix.subnet_of(city.ula_prefix) for d in city.districts
    }
    subnet_of = {d.id: (int(d.prefix.network_address) >> 64, d.prefix) for d in city.districts}
    district_of = {f.id: f.district_id for f in city.facilities}
    ids: dict[str, int] = {}
    addresses: dict[int, int] = {}
    devices = city.devices
    for i, d in enumerate(devices):
        if d.id in ids:
            problems.append(_at("devices", i, d.id, "id") + f": duplicate id, first used by devices[{ids[d.id]}]")
        ids.setdefault(d.id, i)
        facility_district = district_of.get(d.facility_id)
        if facility_district is None:
            problems.append(_at("devices", i, d.id, "facility_id") + f": unknown facility {d.facility_id!r}")
        subnet = subnet_of.get(d.district_id)
        if subnet is None:
            problems.append(_at("devices", i, d.id, "district_id") + f": unknown district {d.district_id!r}")
        elif facility_district in subnet_of and facility_district != d.district_id:
            problems.append(
                _at("devices", i, d.id, "district_id") + f": {d.district_id!r} differs from district "
                f"{facility_district!r} of its facility {d.facility_id!r}"
            )
        address = int(d.ipv6)
        if address in addresses:
            j = addresses[address]
            problems.append(
                _at("devices", i, d.id, "ipv6") + f": {d.ipv6} is already used by devices[{j}] ({devices[j].id})"
            )
        addresses.setdefault(address, i)
        if subnet is not None and good_prefix[d.district_id] and address >> 64 != subnet[0]:
            problems.append(
                _at("devices", i, d.id, "ipv6") + f": {d.ipv6} is outside {subnet[1]}, the prefix of district "
                f"{d.district_id!r}"
            )
        elif is_reserved_iid(address & _IID_MASK):
            problems.append(_at("devices", i, d.id, "ipv6") + f": {d.ipv6} uses a reserved interface id (RFC 5453)")
        if d.network is NetworkClass.NARROWBAND and d.radio is None:
            problems.append(
                _at("devices", i, d.id, "radio") + f": a narrowband device needs a radio profile (one of {_RADIOS})"
            )
        elif d.network is NetworkClass.BROADBAND and d.radio is not None:
            problems.append(
                _at("devices", i, d.id, "radio") + ": a broadband device has no radio profile: remove it, or set "
                "network to narrowband"
            )
    return problems


def cross_reference_problems(city: City) -> list[str]:
    """Every cross-reference problem of the city, in file order (plan, departments, districts, facilities,
    devices)."""
    districts = {d.id for d in city.districts}
    return [
        *_plan_problems(city),
        *_department_problems(city),
        *_district_problems(city),
        *_facility_problems(city, districts),
        *_device_problems(city),
    ]
