"""Simulator scale benchmark: 10,000 concurrent broadband sessions against a private Mosquitto, and a baseline
measured in the same run (one paho client per device, the way a simulator is usually written).

    .venv/bin/python -m bench.simulator_bench [--sessions 10000] [--rate 22000] [--seconds 20] [--baseline 300]

Delivered counts come from the broker ($SYS publish counters), not from what the clients claim to have sent.
Prints msg/s, memory per session, CPU per 1,000 msg/s for both, and the ratios.
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devices.run_options import RunOptions
from devices.settings import SimulatorSettings
from devices.snapshot import Snapshot
from devices.workers import raise_fd_limit, run_simulation
from smartcity.city.model import BBox, City, DeviceType, Facility, FacilityKind, GeoPoint
from smartcity.localservices import MosquittoProcess
from smartcity.settings import MqttSettings
from tests.support.cities import box_district, device_at

_TYPES = [DeviceType.AIR_QUALITY, DeviceType.NOISE, DeviceType.WEATHER, DeviceType.ENERGY_METER]


def bench_city(count: int) -> City:
    """``count`` broadband devices in one district (the benchmark needs sessions, not geography)."""
    centre = GeoPoint(lat=52.52, lon=13.4)
    district = box_district(
        "bench",
        "Bench",
        BBox(min_lat=52, min_lon=13, max_lat=53, max_lon=14),
        centre=centre,
        prefix=IPv6Network("fd00:bead:1:1::/64"),
        population=1,
    )
    facility = Facility(id="f-1", kind=FacilityKind.PUBLIC_BUILDING, name="F", district_id="bench", location=centre)
    devices = [
        device_at(
            facility,
            f"dev-{index:06d}",
            _TYPES[index % len(_TYPES)],
            IPv6Address(int(IPv6Address("fd00:bead:1:1::")) + index + 1),
        )
        for index in range(count)
    ]
    return City(
        name="bench",
        seed=1,
        ula_prefix=IPv6Network("fd00:bead:1::/48"),
        districts=[district],
        facilities=[facility],
        devices=devices,
    )


class SysCounter:
    """Follows ``$SYS/broker/publish/messages/received`` and ``$SYS/broker/clients/connected`` (1 s interval)."""

    def __init__(self, port: int) -> None:
        self.received = 0
        self.samples: list[tuple[float, int]] = []
        self.connected = 0
        self.max_connected = 0
        self.connected_samples: list[tuple[float, int]] = []
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-sys")
        self._client.on_message = self._on_message
        self._client.connect("::1", port)
        self._client.subscribe([("$SYS/broker/publish/messages/received", 0), ("$SYS/broker/clients/connected", 0)])
        self._client.loop_start()

    def _on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        value = int(message.payload)
        if message.topic.endswith("received"):
            self.received = value
            self.samples.append((time.monotonic(), value))
        else:
            self.connected = value
            self.max_connected = max(self.max_connected, value)
            self.connected_samples.append((time.monotonic(), value))

    def _steady_window(self, since: float) -> tuple[tuple[float, int], tuple[float, int]] | None:
        samples = [(t, n) for t, n in self.samples if t >= since]
        moving = [i for i in range(1, len(samples)) if samples[i][1] > samples[i - 1][1]]
        if len(moving) < 6:
            return None
        return samples[moving[2]], samples[moving[-3]]

    def steady_rate(self, since: float) -> float:
        """Messages/s the broker received in the middle of the publishing period after ``since`` (the first and
        last two samples of the period are left out: ramp-up and shutdown)."""
        window = self._steady_window(since)
        if window is None:
            return 0.0
        (t0, n0), (t1, n1) = window
        return (n1 - n0) / (t1 - t0)

    def min_connected_while_steady(self, since: float) -> int:
        """The fewest clients the broker counted as connected during the steady window of :meth:`steady_rate`."""
        window = self._steady_window(since)
        if window is None:
            return 0
        (t0, _), (t1, _) = window
        # Mosquitto publishes $SYS values only when they change: the value in force at t0 counts too.
        before = [n for t, n in self.connected_samples if t < t0][-1:]
        return min([*before, *(n for t, n in self.connected_samples if t0 <= t <= t1)], default=0)

    def rates(self, since: float) -> list[int]:
        """Per-sample msg/s received by the broker after ``since`` (the $SYS counter moves once a second)."""
        samples = [(t, n) for t, n in self.samples if t >= since]
        return [round((n1 - n0) / (t1 - t0)) for (t0, n0), (t1, n1) in itertools.pairwise(samples)]

    def settle(self) -> int:
        time.sleep(2.2)  # two $SYS intervals: the counter includes everything published so far
        return self.received

    def stop(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime in clock ticks (100 Hz)


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096


def run_ours(
    port: int, sessions: int, rate: float, seconds: float, workers: int, burst: int, sys: SysCounter
) -> dict[str, float]:
    city = bench_city(sessions)
    settings = SimulatorSettings(
        mqtt=MqttSettings(host="::1", port=port, topic_root="bench"),
        workers=workers,
        connect_rate=1500.0,
        log_level="WARNING",
    )
    timeline: list[tuple[float, Snapshot]] = []
    before = sys.settle()
    started = time.monotonic()
    run_simulation(
        settings,
        city,
        city.devices,
        RunOptions(seed=1, duration_s=seconds, rate=rate, burst=burst),
        lambda snap: timeline.append((time.monotonic(), snap)),
    )
    delivered = sys.settle() - before
    broker_rate = sys.steady_rate(started)
    print("broker msg/s, one value per second:", " ".join(str(rate) for rate in sys.rates(started) if rate))
    print(f"fewest clients connected at the broker while steady: {sys.min_connected_while_steady(started)}")
    connected = [s.gauges.connected for _, s in timeline]
    # The steady window: from the first snapshot after publishing began (load mode starts once every session is
    # up) to the last one in which the reading count still grew (before the clean shutdown).
    publishing = [(t, s) for t, s in timeline if s.counters.readings > 0 and s.gauges.workers_running == workers]
    grew = [
        i
        for i in range(1, len(publishing))
        if publishing[i][1].counters.readings > publishing[i - 1][1].counters.readings
    ]
    if not grew:
        raise SystemExit(
            f"no steady publishing window (simulator max {max(connected, default=0)} sessions, "
            f"broker max {sys.max_connected})"
        )
    steady = publishing[: grew[-1] + 1]
    (t0, s0), (t1, s1) = steady[0], steady[-1]
    sent = s1.counters.readings - s0.counters.readings
    cpu = s1.gauges.cpu_s - s0.gauges.cpu_s
    last = timeline[-1][1]
    return {
        "sessions": sessions,
        "msg_s": sent / (t1 - t0),
        "broker_msg_s": broker_rate,
        "cpu_per_1k": cpu / (sent / 1000),
        "mem_per_session_kb": s1.gauges.rss_bytes / sessions / 1024,
        "sent_total": last.counters.messages_sent,
        "acked_total": last.counters.acked,
        "delivered": delivered,
        "readings_total": last.counters.readings,
        "min_connected_in_window": min(s.gauges.connected for _, s in steady),
        "errors": last.counters.errors,
    }


def run_paho(port: int, sessions: int, per_session_rate: float, seconds: float, sys: SysCounter) -> dict[str, float]:
    """The usual approach: one paho client (and its network thread) per device, QoS 1."""
    before = sys.settle()
    rss0 = _rss()
    clients = []
    for index in range(sessions):
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"paho-{index}", protocol=mqtt.MQTTv5)
        client.connect("::1", port)
        client.loop_start()
        clients.append(client)
    mem = (_rss() - rss0) / sessions / 1024
    payload = b'{"dev":"paho-000001","seq":1,"ts":1764390000123,"m":{"no2":23.4,"pm25":8.1,"pm10":13.1,"o3":40.2}}'
    stop = time.monotonic() + seconds
    sent, cpu0, t0 = 0, time.process_time(), time.monotonic()
    gap = 1.0 / per_session_rate
    while time.monotonic() < stop:
        tick = time.monotonic()
        for index, client in enumerate(clients):
            client.publish(f"bench/v1/dev/paho-{index}/reading", payload, qos=1)
            sent += 1
        time.sleep(max(0.0, gap - (time.monotonic() - tick)))
    elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
    for client in clients:
        client.disconnect()
        client.loop_stop()
    return {
        "sessions": sessions,
        "msg_s": sent / elapsed,
        "cpu_per_1k": cpu / (sent / 1000),
        "mem_per_session_kb": mem,
        "sent_total": sent,
        "delivered": sys.settle() - before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=22_000.0, help="total msg/s asked of the simulator")
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--burst", type=int, default=1, help="readings per device wake (same total rate)")
    parser.add_argument("--baseline", type=int, default=300, help="paho clients in the baseline")
    args = parser.parse_args()
    limit = raise_fd_limit()
    print(f"open-file limit {limit}; load average before: {os.getloadavg()[0]:.1f} (2 cores: above 2 means shared)")
    with (
        tempfile.TemporaryDirectory(prefix="simbench-") as workdir,
        MosquittoProcess(Path(workdir), extra_conf="max_connections -1\nsys_interval 1") as broker,
    ):
        sys = SysCounter(broker.port)
        mosq0 = _cpu_of(broker.pid)
        base = run_paho(broker.port, args.baseline, 2.0, 10.0, sys)
        mosq1 = _cpu_of(broker.pid)
        ours = run_ours(broker.port, args.sessions, args.rate, args.seconds, args.workers, args.burst, sys)
        mosq2 = _cpu_of(broker.pid)
        print(f"connected sessions seen by the broker: max {sys.max_connected}")
        sys.stop()
    for name, result in (("paho per device", base), ("smartcity simulate", ours)):
        print(
            f"{name:>20}: "
            + ", ".join(f"{k} {v:,.2f}" if isinstance(v, float) else f"{k} {v:,}" for k, v in result.items())
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(f"broker CPU: baseline {mosq1 - mosq0:.1f} s, simulator run {mosq2 - mosq1:.1f} s")
    print(f"ratio CPU per 1k msg/s (paho / ours): {base['cpu_per_1k'] / ours['cpu_per_1k']:.1f}x")
    print(f"ratio memory per session (paho / ours): {base['mem_per_session_kb'] / ours['mem_per_session_kb']:.1f}x")
    print(
        f"simulator: {ours['broker_msg_s']:,.0f} msg/s steady as counted by the broker ({ours['msg_s']:,.0f} by the "
        f"simulator's own count) over {args.sessions:,} sessions; sent {ours['sent_total']:,} "
        f"({ours['readings_total']:,} readings + 3 retained birth/status per session), "
        f"broker counted {ours['delivered']:,} publishes received"
    )


if __name__ == "__main__":
    main()
