"""Fast device look-up for the ingest path: district, facility and type always come from here, never from
the payload or the topic."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from smartcity.city.model import City, DeviceType, FacilityKind, NetworkClass


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    device_id: str
    device_type: DeviceType
    district_id: str
    facility_id: str
    facility_kind: FacilityKind
    network: NetworkClass


class DeviceDirectory:
    """Read-only map of device id -> :class:`DeviceInfo`."""

    def __init__(self, devices: Iterable[DeviceInfo]) -> None:
        self._by_id = {info.device_id: info for info in devices}

    @classmethod
    def from_city(cls, city: City) -> DeviceDirectory:
        kinds = {facility.id: facility.kind for facility in city.facilities}
        return cls(
            DeviceInfo(d.id, d.type, d.district_id, d.facility_id, kinds[d.facility_id], d.network)
            for d in city.devices
        )

    def get(self, device_id: str) -> DeviceInfo | None:
        return self._by_id.get(device_id)

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[DeviceInfo]:
        return iter(self._by_id.values())
