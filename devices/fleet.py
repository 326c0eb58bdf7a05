"""The devices of one worker, built from the settings, the devices it runs and the run options.

:func:`build_fleet` settles everything before the run starts: the simulated clock (and the backfill's speed),
the run context the devices share, how broadband sessions reach the broker (bound to a device's own IPv6 address
when this machine has it), each device's faults, and the network server that carries the narrowband devices
(load mode leaves those out).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from devices.broadband import BroadbandDevice, BrokerTarget
from devices.clock import SimClock, now_ms
from devices.device_core import RunContext
from devices.narrowband import NarrowbandDevice
from devices.netserver import NetworkServer, ServerAccount
from devices.run_options import RunOptions
from devices.settings import SimulatorSettings
from devices.signals import SignalModel
from devices.stats import RunStats
from smartcity.city.model import City, Device, NetworkClass
from smartcity.contract.topics import TopicScheme
from smartcity.mqtt_tls import client_context
from smartcity.quality_truth import TruthWriter


@dataclass(slots=True)
class Fleet:
    """One worker's devices and what they share."""

    stats: RunStats
    run_ctx: RunContext
    broadband: list[BroadbandDevice]
    narrowband: list[NarrowbandDevice]
    server: NetworkServer | None
    """The network server's session, when the worker runs narrowband devices."""
    truth: TruthWriter | None = None
    """The ground-truth log (``--truth``), which the runner closes at the end."""


def build_fleet(
    settings: SimulatorSettings,
    city: City,
    devices: Sequence[Device],
    options: RunOptions,
    *,
    password_for: Callable[[str], str] | None = None,
    netserver_password: str | None = None,
    worker: int = 0,
    workers: int = 1,
) -> Fleet:
    """The devices of worker ``worker`` of ``workers`` (load mode divides the rate over all of them)."""
    stats = RunStats()
    model = SignalModel(city, options.seed)
    broadband = [d for d in devices if d.network is NetworkClass.BROADBAND]
    narrowband = [d for d in devices if d.network is NetworkClass.NARROWBAND] if options.rate is None else []
    start = options.start_ms if options.start_ms is not None else now_ms()
    clock = SimClock(
        start_ms=start,
        speed=options.speed if options.rate is None else 1.0,
        backfill_s=options.backfill_s,
        backfill_speed=backfill_speed(options, devices),
    )
    truth = TruthWriter(options.truth_path) if options.truth_path is not None else None
    interval = None
    if options.rate is not None:
        interval = max(1, len(broadband) * workers) / options.rate
    run_ctx = RunContext(
        scheme=TopicScheme(settings.mqtt.topic_root),
        clock=clock,
        model=model,
        stats=stats,
        interval_override_s=interval,
        gate_open=options.rate is None,
        burst=options.burst,
        episodes=options.episodes if options.episodes.active else None,
        truth=truth,
    )
    mqtt = settings.mqtt
    tls = client_context(mqtt)
    target = BrokerTarget(
        host=mqtt.host,
        port=mqtt.port,
        keepalive_s=mqtt.keepalive_s,
        session_expiry_s=settings.session_expiry_s,
        max_inflight=settings.max_inflight,
        reconnect_min_s=settings.reconnect_min_s,
        reconnect_max_s=settings.reconnect_max_s,
        password_for=password_for,
        local_addresses=local_ipv6_addresses(),
        ssl=tls,
    )
    run_s = options.duration_s
    broadband_devices = [
        BroadbandDevice(model.context(d), run_ctx, options.faults.for_device(options.seed, d.id, run_s), target)
        for d in broadband
    ]
    server: NetworkServer | None = None
    narrowband_devices: list[NarrowbandDevice] = []
    if narrowband:
        account = ServerAccount(
            host=mqtt.host,
            port=mqtt.port,
            client_id=f"{settings.netserver_username}-{mqtt.topic_root}-{worker}",
            username=settings.netserver_username if netserver_password is not None else None,
            password=netserver_password,
            keepalive_s=mqtt.keepalive_s,
            reconnect_min_s=settings.reconnect_min_s,
            reconnect_max_s=settings.reconnect_max_s,
            ssl=tls,
        )
        server = NetworkServer(run_ctx, account)
        narrowband_devices = [
            NarrowbandDevice(
                model.context(d),
                run_ctx,
                options.faults.for_device(options.seed, d.id, run_s),
                server,
                coverage_loss=options.coverage_loss,
            )
            for d in narrowband
        ]
    return Fleet(stats, run_ctx, broadband_devices, narrowband_devices, server, truth)


def local_ipv6_addresses() -> frozenset[str]:
    """The IPv6 addresses configured on this machine (Linux ``/proc/net/if_inet6``); empty elsewhere."""
    try:
        lines = Path("/proc/net/if_inet6").read_text().splitlines()
    except OSError:
        return frozenset()
    found = set()
    for line in lines:
        raw = line.split()[0]
        found.add(socket.inet_ntop(socket.AF_INET6, bytes.fromhex(raw)))
    return frozenset(found)


def backfill_speed(options: RunOptions, devices: Sequence[Device]) -> float:
    """Simulated seconds per wall second while backfilling, so that all devices together publish about
    ``backfill_rate`` readings per second."""
    if not devices:
        return 3600.0
    per_second = sum(1.0 / device.report_interval_s for device in devices)
    return max(1.0, options.backfill_rate / per_second)
