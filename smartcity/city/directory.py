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
    """Map of device id -> :class:`DeviceInfo`, read-only to its users; :meth:`adopt` swaps in a new city's
    devices whole (one assignment, so a reader sees the old map or the new one, never a mix)."""

    def __init__(self, devices: Iterable[DeviceInfo]) -> None:
        self._by_id = {info.device_id: info for info in devices}
        self.generation = 0
        """Counts :meth:`replace` calls: what users cache per device (parsers, encoders) is stale when it moved."""

    @staticmethod
    def _infos(city: City) -> Iterator[DeviceInfo]:
        kinds = {facility.id: facility.kind for facility in city.facilities}
        for d in city.devices:
            yield DeviceInfo(d.id, d.type, d.district_id, d.facility_id, kinds[d.facility_id], d.network)

    @classmethod
    def from_city(cls, city: City) -> DeviceDirectory:
        return cls(cls._infos(city))

    def adopt(self, other: DeviceDirectory) -> None:
        """Take ``other``'s devices instead of the current ones (a city file changed at run time; build ``other``
        with :meth:`from_city` off the event loop)."""
        self._by_id = other._by_id
        self.generation += 1

    def get(self, device_id: str) -> DeviceInfo | None:
        return self._by_id.get(device_id)

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[DeviceInfo]:
        return iter(self._by_id.values())
