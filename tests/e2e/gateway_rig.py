"""What the gateway's end-to-end fault tests drive: an exact QoS 1 publisher, a dead-letter collector, the ledger of
what was published and the :class:`Rig` that ties them to a broker, an influxd and a gateway subprocess."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from smartcity.contract.messages import DeadLetter
from smartcity.contract.reading import Reading
from smartcity.contract.topics import TopicKind, TopicScheme
from smartcity.contract.wire import encode_reading_json
from smartcity.localservices import InfluxdProcess, MosquittoProcess
from smartcity.localservices.gateway import GatewayProcess
from smartcity.localservices.probes import InfluxProbe

DEVICES = 8
STEP_MS = 10
"""Device timestamps are ``base_ms + seq * STEP_MS``: every reading is its own point, and its seq is recoverable."""


def _session_properties() -> Properties:
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 3600
    return properties


def _client(client_id: str, broker: MosquittoProcess) -> mqtt.Client:
    """A paho client with a persistent session that reconnects quickly on its own (loop thread)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.reconnect_delay_set(min_delay=1, max_delay=2)
    client.connect("127.0.0.1", broker.port, keepalive=10, clean_start=False, properties=_session_properties())
    return client


class ExactPublisher:
    """Publishes QoS 1 and returns only once the broker acknowledged (PUBACK): what it reports as published is
    exact. While the broker is away it keeps retrying the same message, so a retry can make a duplicate."""

    def __init__(self, broker: MosquittoProcess, client_id: str) -> None:
        self._client = _client(client_id, broker)
        self._client.loop_start()

    def send(self, topic: str, payload: bytes, *, timeout_s: float = 30.0, retain: bool = False) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            info = self._client.publish(topic, payload, qos=1, retain=retain)
            # Not connected right now: paho says so (RuntimeError) and its loop thread reconnects; send again then.
            with contextlib.suppress(RuntimeError):
                info.wait_for_publish(timeout=1.0)
                if info.is_published():
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"no PUBACK for a message on {topic} within {timeout_s:.0f} s")
            time.sleep(0.1)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class DeadLetterCollector:
    """Subscribes to the dead-letter topics (persistent session, QoS 1) and keeps every letter received."""

    def __init__(self, broker: MosquittoProcess, scheme: TopicScheme, client_id: str) -> None:
        self.letters: list[tuple[str, DeadLetter]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self._client = _client(client_id, broker)
        self._client.on_connect = lambda c, *_: c.subscribe(scheme.dead_letter_filter(), qos=1)
        self._client.on_subscribe = lambda *_: subscribed.set()
        self._client.on_message = self._on_message
        self._client.loop_start()
        if not subscribed.wait(10):
            raise TimeoutError("dead-letter subscription not acknowledged within 10 s")

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.letters.append((msg.topic, msgspec.json.decode(msg.payload, type=DeadLetter)))

    def wait_for(self, count: int, timeout_s: float) -> list[tuple[str, DeadLetter]]:
        deadline = time.monotonic() + timeout_s
        while len(self.letters) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # a few more would show up now if the gateway sent too many
        with self._lock:
            return list(self.letters)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@dataclass
class Ledger:
    """What the test published: per device, the seqs whose PUBACK arrived."""

    base_ms: int
    published: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    @property
    def total(self) -> int:
        return sum(len(seqs) for seqs in self.published.values())


@dataclass
class Rig:
    """Everything one fault test drives."""

    broker: MosquittoProcess
    influxd: InfluxdProcess
    scheme: TopicScheme
    probe: InfluxProbe
    gateway: GatewayProcess
    devices: list[str]
    publisher: ExactPublisher
    dead_letters: DeadLetterCollector
    ledger: Ledger

    def reading(self, index: int, seq: int) -> tuple[str, bytes]:
        """Topic and JSON payload of a valid reading of device ``index``."""
        device = self.devices[index]
        values: dict[str, float | int | bool | str] = {"no2": 20.0 + seq % 50, "pm25": 9.5, "battery": 88.0}
        reading = Reading(device, seq, self.ledger.base_ms + seq * STEP_MS, values)
        return self.scheme.device(device, TopicKind.READING), encode_reading_json(reading)

    def stream(self, count: int, *, rate: float, during: Callable[[int], None] | None = None) -> None:
        """Publish ``count`` valid readings round-robin over the devices at about ``rate`` per second, calling
        ``during(n)`` before the n-th one (the fault injection point)."""
        start = time.monotonic()
        for n in range(count):
            if during is not None:
                during(n)
            seq, index = divmod(n, len(self.devices))
            topic, payload = self.reading(index, seq)
            self.publisher.send(topic, payload)
            self.ledger.published[self.devices[index]].add(seq)
            delay = start + (n + 1) / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def stored(self) -> dict[str, set[int]]:
        """Per device, the seqs InfluxDB holds (recovered from the point timestamps)."""
        stored: dict[str, set[int]] = {}
        for device in self.devices:
            times = self.probe.times("air_quality", "no2", "device", device)
            assert len(times) == len(set(times))
            stored[device] = {(t - self.ledger.base_ms) // STEP_MS for t in times}
        return stored

    def wait_stored(self, expected: int, timeout_s: float) -> int:
        count, _ = self.probe.wait_for_count("air_quality", "no2", expected, timeout_s=timeout_s)
        return count
