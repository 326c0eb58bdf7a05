"""Load mode as a library call, for other components' benchmarks: N broadband devices publishing R readings/s.

    summary = run_load(MqttSettings(port=...), devices=2000, rate=10_000, duration_s=30, workers=2)

The same thing from the shell: ``smartcity simulate --city city.json --devices 2000 --rate 10000 --duration 30s``.
Readings are the simulator's own (valid JSON readings with per-device sequence numbers, values resampled once
per simulated minute); publishing starts once every session is up, so the rate is steady from the first second.
The summary's per-device ledger says exactly which sequence numbers each device sent.
"""

from __future__ import annotations

from devices.run_options import RunOptions
from devices.settings import SimulatorSettings
from devices.snapshot import Summary
from devices.workers import run_simulation
from smartcity.city.generate import generate_city
from smartcity.city.model import City, NetworkClass
from smartcity.settings import MqttSettings


def broadband_city(devices: int, seed: int = 1) -> City:
    """A generated city with at least ``devices`` broadband devices (narrowband ones are dropped: load mode
    publishes through device sessions only)."""
    size = devices
    while True:
        city = generate_city(devices=size, seed=seed)
        broadband = [device for device in city.devices if device.network is NetworkClass.BROADBAND]
        if len(broadband) >= devices:
            return city.model_copy(update={"devices": broadband[:devices]})
        size = int(size * 1.5) + 10


def run_load(
    mqtt: MqttSettings,
    *,
    devices: int,
    rate: float,
    duration_s: float,
    workers: int = 1,
    seed: int = 1,
    burst: int = 1,
    settings: SimulatorSettings | None = None,
    city: City | None = None,
) -> Summary:
    """Publish ``rate`` readings/s in total from ``devices`` sessions for ``duration_s``; returns the summary.
    The sessions are the first ``devices`` devices of ``city`` (a generated broadband city when not given)."""
    if devices < 1 or rate <= 0 or duration_s <= 0:
        raise ValueError(f"devices, rate and duration must be positive (got {devices}, {rate}, {duration_s})")
    base = settings or SimulatorSettings()
    chosen = base.model_copy(update={"mqtt": mqtt, "workers": workers})
    if city is None:
        city = broadband_city(devices, seed)
    elif len(city.devices) < devices:
        raise ValueError(f"the city has {len(city.devices)} devices, fewer than the {devices} asked for")
    city = city.model_copy(update={"devices": city.devices[:devices]})
    options = RunOptions(seed=seed, duration_s=duration_s, rate=rate, burst=burst)
    return run_simulation(chosen, city, city.devices, options)
