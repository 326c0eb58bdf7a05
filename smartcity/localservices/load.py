"""Preloaded load for the benchmarks and the gateway's end-to-end tests: ~170-byte JSON readings published by C
clients, or at a steady rate, and the small city they come from.

Fast path: the readings of each device are written to a file, one payload per line, and published by
``mosquitto_pub -l`` (libmosquitto, one process per device so each device's sequence numbers arrive in
order, 25 processes at a time). Every device's timestamps are distinct (``base_ms + seq * step_ms``),
so every reading is its own InfluxDB point and a count in the database is a count of readings.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv6Network
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from smartcity.city.model import (
    BBox,
    City,
    Device,
    DeviceType,
    District,
    Facility,
    FacilityKind,
    GeoPoint,
    NetworkClass,
)
from smartcity.contract.reading import Reading, Value
from smartcity.contract.topics import TopicKind, TopicScheme
from smartcity.contract.wire import encode_reading_json

COUNT_FIELD = "no2"
"""Every benchmark reading carries it (with the other air-quality metrics and vitals): the field counts use."""


def bench_city(devices: int, *, name: str = "Benchville") -> City:
    """A one-district city with ``devices`` broadband air-quality sensors ``aq-centre-00000`` ... on one street."""
    ula = IPv6Network("fd5b:e7c1:a000::/48")
    prefix = IPv6Network("fd5b:e7c1:a000:1::/64")
    centre = GeoPoint(lat=52.52, lon=13.405)
    bbox = BBox(min_lat=52.5, min_lon=13.38, max_lat=52.54, max_lon=13.43)
    corners = [(52.5, 13.38), (52.5, 13.43), (52.54, 13.43), (52.54, 13.38), (52.5, 13.38)]
    district = District(
        id="centre",
        name="Centre",
        population=120_000,
        centre=centre,
        bbox=bbox,
        polygon=[GeoPoint(lat=lat, lon=lon) for lat, lon in corners],
        prefix=prefix,
    )
    street = Facility(
        id="main-street", kind=FacilityKind.STREET_SEGMENT, name="Main Street", district_id="centre", location=centre
    )
    sensors = [
        Device(
            id=device_id(i),
            type=DeviceType.AIR_QUALITY,
            facility_id=street.id,
            district_id=district.id,
            location=centre,
            ipv6=prefix[0x1000 + 7 * i],
            network=NetworkClass.BROADBAND,
            report_interval_s=60,
        )
        for i in range(devices)
    ]
    return City(name=name, seed=None, ula_prefix=ula, districts=[district], facilities=[street], devices=sensors)


def device_id(index: int) -> str:
    return f"aq-centre-{index:05d}"


def reading_payload(device_id: str, seq: int, ts_ms: int, rng: random.Random) -> str:
    """One air-quality reading, encoded by the contract's JSON encoder (compact, no newline)."""
    values: dict[str, Value] = {
        "no2": round(rng.uniform(5, 80), 4),
        "pm25": round(rng.uniform(1, 40), 4),
        "pm10": round(rng.uniform(5, 60), 4),
        "o3": round(rng.uniform(10, 120), 4),
        "battery": round(rng.uniform(20, 100), 3),
        "rssi": round(rng.uniform(-110, -50), 2),
        "report_interval": 60,
    }
    return encode_reading_json(Reading(device_id, seq, ts_ms, values)).decode()


@dataclass(frozen=True)
class Load:
    """``per_device`` readings for each device, seq 0..per_device-1, timestamps ``base_ms + seq * step_ms``."""

    devices: Sequence[str]
    per_device: int
    base_ms: int
    step_ms: int = 1

    @property
    def total(self) -> int:
        return len(self.devices) * self.per_device

    def ts_ms(self, seq: int) -> int:
        return self.base_ms + seq * self.step_ms

    def write_files(self, directory: Path, seed: int = 1) -> tuple[list[Path], float]:
        """One file per device (one payload per line); returns the files and the mean payload size."""
        directory.mkdir(parents=True, exist_ok=True)
        rng = random.Random(seed)
        files, size = [], 0
        for device_id in self.devices:
            lines = [reading_payload(device_id, seq, self.ts_ms(seq), rng) for seq in range(self.per_device)]
            size += sum(len(line) for line in lines)
            path = directory / f"{device_id}.jsonl"
            path.write_text("\n".join(lines) + "\n")
            files.append(path)
        return files, size / max(self.total, 1)


def publish_files(
    host: str,
    port: int,
    scheme: TopicScheme,
    files: Sequence[Path],
    *,
    qos: int,
    parallel: int = 25,
    timeout_s: float = 600.0,
) -> float:
    """Publish every device file with ``mosquitto_pub -l`` (``parallel`` processes at once); return seconds.

    mosquitto_pub waits for every PUBACK before it exits at QoS 1, so when this returns the broker holds
    every message. Raises RuntimeError when a publisher fails.
    """
    pending = list(files)
    running: list[tuple[subprocess.Popen[bytes], Path]] = []
    started = time.monotonic()
    deadline = started + timeout_s
    while pending or running:
        while pending and len(running) < parallel:
            path = pending.pop()
            topic = scheme.device(path.stem, TopicKind.READING)
            command = ["mosquitto_pub", "-h", host, "-p", str(port), "-V", "mqttv5", "-q", str(qos)]
            command += ["-M", "1000", "-t", topic, "-l"]
            with path.open("rb") as stdin:
                popen = subprocess.Popen(command, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            running.append((popen, path))
        for popen, path in list(running):
            code = popen.poll()
            if code is None:
                continue
            running.remove((popen, path))
            stderr = b""
            if popen.stderr is not None:
                with popen.stderr:
                    stderr = popen.stderr.read()
            if code != 0:
                raise RuntimeError(
                    f"mosquitto_pub for {path.name} exited with {code}: {stderr.decode(errors='replace')}"
                )
        if time.monotonic() > deadline:
            for popen, _ in running:
                popen.kill()
            raise RuntimeError(f"publishing did not finish within {timeout_s:.0f} s")
        time.sleep(0.01)
    return time.monotonic() - started


@dataclass
class SteadyPublisher:
    """Publishes readings round-robin over ``devices`` at ``rate`` messages/s from a thread (paho, QoS 1),
    recording the wall-clock time of every publish so latency can be computed against when it is queryable."""

    host: str
    port: int
    scheme: TopicScheme
    devices: Sequence[str]
    rate: float
    qos: int = 1
    sent_at: list[float] = field(default_factory=list)
    """Wall-clock publish time of the n-th message (n = seq * len(devices) + device index)."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="steady-publisher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    @property
    def sent(self) -> int:
        return len(self.sent_at)

    def _run(self) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.max_inflight_messages_set(1000)
        client.connect(self.host, self.port)
        client.loop_start()
        rng = random.Random(3)
        topics = [self.scheme.device(device_id, TopicKind.READING) for device_id in self.devices]
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        n = 0
        infos: list[mqtt.MQTTMessageInfo] = []
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now < next_at:
                    time.sleep(min(next_at - now, 0.01))
                    continue
                seq, index = divmod(n, len(self.devices))
                wall_ms = int(time.time() * 1000)
                payload = reading_payload(self.devices[index], seq, wall_ms, rng)
                infos.append(client.publish(topics[index], payload, qos=self.qos))
                self.sent_at.append(wall_ms / 1000)
                n += 1
                next_at += interval
        finally:
            # Every message counted as sent must have reached the broker before the connection closes.
            for info in infos:
                info.wait_for_publish(timeout=30)
            client.disconnect()
            client.loop_stop()
