"""A small hand-built city for the simulator's tests (independent of the generator, so each test states exactly
which devices it runs), and a collecting MQTT subscriber built on the simulator's own session."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from ipaddress import IPv6Address, IPv6Network

from devices.mqtt5 import IncomingPublish
from devices.session import MqttSession
from devices.session_options import SessionOptions
from smartcity.city.model import (
    BBox,
    City,
    Device,
    DeviceType,
    Facility,
    FacilityKind,
    GeoPoint,
    NetworkClass,
    RadioProfile,
)
from smartcity.settings import MqttSettings
from tests.support.cities import ULA, box_district, device_at


def simulator_city(
    broadband: list[DeviceType] | None = None,
    narrowband: list[tuple[DeviceType, RadioProfile]] | None = None,
    *,
    report_interval_s: int = 60,
) -> City:
    """One district, one facility of each kind used, devices named ``bb-N`` and ``nb-N``."""
    centre = GeoPoint(lat=52.52, lon=13.40)
    district = box_district(
        "mitte",
        "Mitte",
        BBox(min_lat=52.5, min_lon=13.3, max_lat=52.6, max_lon=13.5),
        centre=centre,
        prefix=IPv6Network("fd12:3456:789a:1::/64"),
        population=100_000,
    )
    facility = Facility(
        id="school-1", kind=FacilityKind.SCHOOL, name="School 1", district_id="mitte", location=centre, capacity=500
    )
    devices: list[Device] = [
        device_at(facility, f"bb-{index}", device_type, _address(index), report_interval_s=report_interval_s)
        for index, device_type in enumerate(broadband or [])
    ]
    devices += [
        device_at(
            facility,
            f"nb-{index}",
            device_type,
            _address(1000 + index),
            network=NetworkClass.NARROWBAND,
            radio=radio,
            report_interval_s=300,
        )
        for index, (device_type, radio) in enumerate(narrowband or [])
    ]
    return City(name="Testville", seed=7, ula_prefix=ULA, districts=[district], facilities=[facility], devices=devices)


def _address(n: int) -> IPv6Address:
    return IPv6Address(f"fd12:3456:789a:1:{n + 1:x}:9f3b:2c1d:7e55")


class Collector:
    """Subscribes to filters and keeps every message (topic -> list of (payload, retain))."""

    def __init__(self) -> None:
        self.messages: dict[str, list[tuple[bytes, bool]]] = defaultdict(list)
        self.session: MqttSession | None = None
        self.arrived = asyncio.Event()

    def _on_message(self, message: IncomingPublish) -> None:
        self.messages[message.topic].append((message.payload, message.retain))
        self.arrived.set()

    async def start(self, mqtt: MqttSettings, filters: list[str], client_id: str = "collector") -> Collector:
        self.session, _ = await MqttSession.open(
            SessionOptions(mqtt.host, mqtt.port, f"{client_id}-{mqtt.topic_root}"), on_message=self._on_message
        )
        codes = await self.session.subscribe([(topic, 1) for topic in filters])
        assert all(code < 0x80 for code in codes), codes
        return self

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.disconnect()

    def payloads(self, topic: str) -> list[bytes]:
        return [payload for payload, _ in self.messages.get(topic, [])]

    async def wait_for(self, predicate: object, timeout_s: float = 10.0) -> None:
        """Until ``predicate()`` is true (checked at each arrival)."""
        assert callable(predicate)
        async with asyncio.timeout(timeout_s):
            while not predicate():
                self.arrived.clear()
                await self.arrived.wait()
