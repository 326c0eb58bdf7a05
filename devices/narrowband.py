"""Narrowband devices (LoRaWAN / NB-IoT-like) and the network server that publishes on their behalf.

A narrowband device holds no MQTT session. It wakes on its schedule (never more often than its radio's duty
cycle allows), takes a reading, and, when in coverage, sends one uplink: a SenML CBOR pack of the new reading
plus as much of its backlog (newest first) as fits the radio profile's payload budget (51 / 222 / 512 bytes).
Out of coverage it buffers. So readings arrive late, batched and out of order, as from a real network.

Like a LoRaWAN class A device, it can only receive right after an uplink: commands for it wait at the
:class:`~devices.netserver.NetworkServer` until it next wakes in coverage, then take effect and are acknowledged.

The network server (:mod:`devices.netserver`) is the one MQTT session (account ``netserver``) for all
narrowband devices: it publishes their packs, their retained status and their command acks.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING

from devices.commands import apply_command
from devices.device_core import DeviceCore, RunContext
from devices.drivers import uniform
from devices.faults import DeviceFaults, Fault
from devices.outgoing import enqueue
from devices.signals import DeviceContext
from smartcity.city.model import RadioProfile
from smartcity.contract.messages import Command, CommandAck
from smartcity.contract.reading import Reading, Value
from smartcity.contract.senml import encode_senml_cbor

if TYPE_CHECKING:
    from devices.netserver import NetworkServer

log = logging.getLogger(__name__)

_AIRTIME_AT_BUDGET_S = {RadioProfile.LORAWAN_SF12: 2.47, RadioProfile.LORAWAN_SF7: 0.37, RadioProfile.NBIOT: 0.0}
_MAX_UPLINKS_PER_WAKE = 4


def min_interval_s(radio: RadioProfile) -> int:
    """Shortest wake interval the duty cycle allows: air time of a full uplink / duty cycle (EU868 1 %)."""
    return int(_AIRTIME_AT_BUDGET_S[radio] / radio.duty_cycle + 0.999)


def quantize(values: dict[str, Value]) -> dict[str, Value]:
    """Half-unit resolution for floats: CBOR then carries most values as 3-byte half floats, not 9-byte doubles."""
    return {name: round(value * 2) / 2 if isinstance(value, float) else value for name, value in values.items()}


def fit_reading(reading: Reading, budget: int) -> Reading:
    """The reading with as many metrics as fit one pack of ``budget`` bytes (later metrics, the vitals, go first)."""
    values = quantize(reading.values)
    names = list(values)
    while True:
        candidate = Reading(reading.device_id, reading.seq, reading.ts_ms, {name: values[name] for name in names})
        if len(encode_senml_cbor([candidate], base_name=False)) <= budget or len(names) == 1:
            return candidate
        names.pop()


def build_pack(first: Reading, backlog: deque[Reading], budget: int) -> tuple[bytes, int]:
    """Encode ``first`` plus the newest backlog readings that still fit; returns (payload, readings taken from the
    backlog). The taken readings are the last ones of ``backlog`` (newest first)."""
    readings = [first]
    payload = encode_senml_cbor(readings, base_name=False)
    taken = 0
    while taken < len(backlog):
        candidate = [*readings, backlog[-1 - taken]]
        encoded = encode_senml_cbor(candidate, base_name=False)
        if len(encoded) > budget:
            break
        readings, payload, taken = candidate, encoded, taken + 1
    return payload, taken


class NarrowbandDevice:
    """One sleeping device; everything it sends goes through the :class:`NetworkServer`."""

    def __init__(
        self,
        ctx: DeviceContext,
        run: RunContext,
        faults: DeviceFaults,
        server: NetworkServer,
        *,
        buffer_limit: int = 2000,
        coverage_loss: float = 0.0,
    ) -> None:
        if ctx.device.radio is None:
            raise ValueError(f"narrowband device {ctx.device.id} has no radio profile")
        self.radio: RadioProfile = ctx.device.radio
        self.core = DeviceCore(ctx, run, faults)
        self.core.controls.report_interval_s = max(ctx.device.report_interval_s, min_interval_s(self.radio))
        self.run_ctx = run
        self.server = server
        self.backlog: deque[Reading] = deque()
        self.buffer_limit = buffer_limit
        self.coverage_loss = coverage_loss
        self.coverage_override: bool | None = None
        """Tests and scenarios force coverage on or off; None follows the coverage model."""
        self.pending_commands: deque[Command] = deque()
        self._tokens = 0.0
        server.attach(self)

    @property
    def device_id(self) -> str:
        return self.core.device_id

    @property
    def ready(self) -> bool:
        return self.server.online.is_set() or self.core.seq > 0

    @property
    def budget(self) -> int:
        return self.radio.payload_budget

    def in_coverage(self, sim_ms: int) -> bool:
        if self.coverage_override is not None:
            return self.coverage_override
        if self.coverage_loss <= 0:
            return True
        return uniform(self.core.ctx.key ^ (sim_ms // 3_600_000)) >= self.coverage_loss  # hour-long outages

    def emit(self, now_wall: float) -> float | None:
        """Wake for every due reading; returns the wall time of the next wake (None once the battery is dead)."""
        if self.core.dead or self.run_ctx.stopping:
            return None
        for reading in self.core.due_readings(now_wall, limit=16):
            self.wake(reading)
            if self.core.battery_dead():
                self.core.dead = True
                self.run_ctx.stats.fault(Fault.BATTERY)
                return None
        return self.core.next_due_wall()

    def wake(self, reading: Reading) -> None:
        stats = self.run_ctx.stats
        reading = fit_reading(reading, self.budget)
        if len(encode_senml_cbor([reading], base_name=False)) > self.budget:
            stats.count("dropped_over_radio_budget")
            stats.error(f"{self.device_id}: reading {reading.seq} does not fit {self.budget} bytes even alone")
            return
        if not self.in_coverage(reading.ts_ms):
            self._buffer(reading)
            return
        # Air-time tokens: a wake earns interval / duty-cycle-minimum uplinks (kept up to a small cap), so a
        # device with a backlog sends extra uplinks only as far as its duty cycle allows.
        floor = min_interval_s(self.radio)
        earned = self.core.controls.report_interval_s / floor if floor else float(_MAX_UPLINKS_PER_WAKE)
        self._tokens = min(float(_MAX_UPLINKS_PER_WAKE), self._tokens + earned)
        uplinks = max(1, int(self._tokens))
        self._tokens -= uplinks
        for number in range(uplinks):
            payload, taken = build_pack(reading, self.backlog, self.budget)
            for _ in range(taken):
                self.backlog.pop()
            self.server.uplink(self, payload, reading.seq or 0)  # simulated readings are always numbered
            if not self.backlog or number == uplinks - 1:
                break
            reading = self.backlog.pop()  # NB-IoT: more uplinks in the same wake drain the backlog faster
        stats.gauges["narrowband_backlog"] = self.server.total_backlog()
        self._receive_window()

    def _buffer(self, reading: Reading) -> None:
        stats = self.run_ctx.stats
        stats.count("narrowband_buffered")
        enqueue(self.backlog, reading, self.buffer_limit, stats, "dropped_device_buffer_full")
        stats.gauges["narrowband_backlog"] = self.server.total_backlog()

    def _receive_window(self) -> None:
        """Class A: downlinks (queued commands) arrive right after an uplink."""
        while self.pending_commands:
            command = self.pending_commands.popleft()
            ack = apply_command(self.core.ctx.device.type, self.core.controls, command, self.run_ctx.clock.sim_ms())
            floor = min_interval_s(self.radio)
            if ack.status == "ok" and self.core.controls.report_interval_s < floor:
                self.core.controls.report_interval_s = floor
                ack = CommandAck(id=ack.id, status="ok", ts_ms=ack.ts_ms, detail=f"raised to duty-cycle limit {floor}s")
            self.run_ctx.stats.count("commands_ok" if ack.status == "ok" else "commands_rejected")
            self.server.send_ack(self.device_id, ack)
