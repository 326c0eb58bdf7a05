"""Narrowband devices (LoRaWAN / NB-IoT-like) and the network server that publishes on their behalf.

A narrowband device holds no MQTT session. It wakes on its schedule (never more often than its radio's duty
cycle allows), takes a reading, and, when in coverage, sends one uplink: a SenML CBOR pack of the new reading
plus as much of its backlog (newest first) as fits the radio profile's payload budget (51 / 222 / 512 bytes).
Out of coverage it buffers. So readings arrive late, batched and out of order, as from a real network.

Like a LoRaWAN class A device, it can only receive right after an uplink: commands for it wait at the
:class:`NetworkServer` until it next wakes in coverage, then take effect and are acknowledged.

The :class:`NetworkServer` is the one MQTT session (account ``netserver``) for all narrowband devices:
it publishes their packs (``senml-cbor``, no base name: the network knows the device from the radio layer),
their retained status, and their command acks, and subscribes to their command topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from dataclasses import dataclass

import msgspec

from devices import mqtt5
from devices.commands import apply_command, decode_command, encode_ack
from devices.drivers import uniform
from devices.faults import DeviceFaults, Fault
from devices.link import DeviceCore, RunContext, backoff_delay
from devices.session import ConnectRefused, MqttSession, SessionError, SessionOptions
from devices.signals import DeviceContext
from smartcity.city.model import RadioProfile
from smartcity.contract.messages import Command, CommandAck, DeviceState, Status
from smartcity.contract.reading import Reading, Value
from smartcity.contract.senml import encode_senml_cbor
from smartcity.contract.topics import TopicKind

log = logging.getLogger(__name__)
_ENCODER = msgspec.json.Encoder()
_SUBSCRIBE_CHUNK = 200
MALFORMED_CBOR = b"\xa5\x00\xff"
"""A malformed uplink: a CBOR map announcing five pairs, then a break code."""

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
            self.server.uplink(self, payload, reading.seq)
            if not self.backlog or number == uplinks - 1:
                break
            reading = self.backlog.pop()  # NB-IoT: more uplinks in the same wake drain the backlog faster
        stats.gauges["narrowband_backlog"] = self.server.total_backlog()
        self._receive_window()

    def _buffer(self, reading: Reading) -> None:
        stats = self.run_ctx.stats
        self.backlog.append(reading)
        stats.count("narrowband_buffered")
        if len(self.backlog) > self.buffer_limit:
            self.backlog.popleft()
            stats.count("dropped_device_buffer_full")
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


@dataclass(frozen=True, slots=True)
class ServerAccount:
    host: str
    port: int
    client_id: str
    username: str | None
    password: str | None
    keepalive_s: int
    reconnect_min_s: float
    reconnect_max_s: float
    outbox_limit: int = 100_000
    max_inflight: int = 256


class NetworkServer:
    """One MQTT session that carries every narrowband device's traffic (a LoRaWAN network server / NB-IoT
    platform). Uplinks wait in a bounded outbox while the broker is unreachable."""

    def __init__(self, run: RunContext, account: ServerAccount) -> None:
        self.run_ctx = run
        self.account = account
        self.devices: dict[str, NarrowbandDevice] = {}
        self.session: MqttSession | None = None
        self._outbox: deque[tuple[bytes, bytes, bool]] = deque()
        self._inflight: dict[int, tuple[bytes, bytes, bool]] = {}
        self._topics: dict[tuple[str, TopicKind], bytes] = {}
        self._rng = random.Random(account.client_id)
        self.online = asyncio.Event()
        self._drained = asyncio.Event()
        """Set while nothing is waiting to be sent or acknowledged."""

    def attach(self, device: NarrowbandDevice) -> None:
        self.devices[device.device_id] = device

    def total_backlog(self) -> int:
        return sum(len(device.backlog) for device in self.devices.values())

    def _topic(self, device_id: str, kind: TopicKind) -> bytes:
        topic = self._topics.get((device_id, kind))
        if topic is None:
            topic = self._topics[(device_id, kind)] = mqtt5.encode_topic(self.run_ctx.scheme.device(device_id, kind))
        return topic

    # -- uplink side ---------------------------------------------------------------------------------------
    def uplink(self, device: NarrowbandDevice, payload: bytes, seq: int) -> None:
        """One radio uplink reached the network: publish it (faults may repeat it or add a malformed one)."""
        stats, faults = self.run_ctx.stats, device.core.faults
        stats.count("narrowband_uplinks")
        stats.count("narrowband_uplink_bytes", len(payload))
        topic = self._topic(device.device_id, TopicKind.SENML_CBOR)
        self._publish(topic, payload)
        if faults.hits(Fault.DUPLICATE, seq):
            self._publish(topic, payload)  # an uplink received by two gateways, forwarded twice
            stats.fault(Fault.DUPLICATE)
        if faults.hits(Fault.MALFORMED, seq):
            self._publish(topic, MALFORMED_CBOR)
            stats.fault(Fault.MALFORMED)

    def send_ack(self, device_id: str, ack: CommandAck) -> None:
        self._publish(self._topic(device_id, TopicKind.COMMAND_ACK), encode_ack(ack))

    def _status(self, device_id: str, state: DeviceState, reason: str) -> None:
        status = Status(state=state, ts_ms=self.run_ctx.clock.sim_ms(), reason=reason)
        self._publish(self._topic(device_id, TopicKind.STATUS), _ENCODER.encode(status), retain=True)

    def _publish(self, topic: bytes, payload: bytes, retain: bool = False) -> None:
        self._drained.clear()
        self._outbox.append((topic, payload, retain))
        if len(self._outbox) > self.account.outbox_limit:
            self._outbox.popleft()
            self.run_ctx.stats.count("dropped_netserver_buffer_full")
        self._flush()

    def _flush(self) -> None:
        session = self.session
        if session is None or not session.connected:
            return
        stats = self.run_ctx.stats
        while self._outbox and len(self._inflight) < self.account.max_inflight:
            topic, payload, retain = self._outbox.popleft()
            try:
                packet_id, packet = session.publish(topic, payload, qos=1, retain=retain)
            except SessionError:
                self._outbox.appendleft((topic, payload, retain))
                return
            self._inflight[packet_id] = (topic, payload, retain)
            stats.counters["messages_sent"] += 1
            stats.counters["bytes_sent"] += len(packet)

    def _on_ack(self, packet_id: int, reason: int) -> None:
        if self._inflight.pop(packet_id, None) is None:
            return
        stats = self.run_ctx.stats
        stats.counters["acked"] += 1
        if reason >= 0x80:
            stats.count("publish_refused")
            stats.error(f"netserver: broker refused a publish (reason code 0x{reason:02x})")
        self._flush()
        if not self._outbox and not self._inflight:
            self._drained.set()

    # -- downlink side -------------------------------------------------------------------------------------
    def _on_message(self, message: mqtt5.IncomingPublish) -> None:
        stats = self.run_ctx.stats
        try:
            device_id = self.run_ctx.scheme.parse(message.topic).device_id
        except ValueError:
            stats.error(f"netserver: message on unexpected topic {message.topic!r}")
            return
        device = self.devices.get(device_id)
        if device is None:
            return
        stats.count("commands_received")
        command = decode_command(message.payload)
        if isinstance(command, CommandAck):
            stats.count("commands_rejected")
            self.send_ack(device_id, CommandAck(id=command.id, status="rejected", ts_ms=0, detail=command.detail))
            return
        device.pending_commands.append(command)  # delivered in the device's next receive window

    # -- connection ----------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Stay connected until the run stops."""
        attempt = 0
        stats = self.run_ctx.stats
        while not self.run_ctx.stopping:
            try:
                await self._connect()
            except ConnectRefused as exc:
                stats.count("connect_refused")
                stats.error(f"netserver: {exc}")
            except (OSError, SessionError, TimeoutError) as exc:
                stats.count("connect_failed")
                stats.error(f"netserver: connect failed: {exc}")
            else:
                attempt = 0
                assert self.session is not None
                await self.session.closed
                self.online.clear()
                self._drained.set()  # nothing more can be acknowledged on this connection
                if self.run_ctx.stopping:
                    return
                stats.count("connection_lost")
            await asyncio.sleep(
                backoff_delay(attempt, self.account.reconnect_min_s, self.account.reconnect_max_s, self._rng)
            )
            attempt += 1

    async def _connect(self) -> None:
        account = self.account
        options = SessionOptions(
            host=account.host,
            port=account.port,
            client_id=account.client_id,
            username=account.username,
            password=account.password,
            keepalive_s=account.keepalive_s,
        )
        session, _ = await MqttSession.open(options, on_message=self._on_message, on_ack=self._on_ack)
        self.session = session
        try:
            await self._set_up(session)
        except BaseException:
            session.abort()  # half set up: do not leak the socket
            raise

    async def _set_up(self, session: MqttSession) -> None:
        self.run_ctx.stats.count("connects")
        filters = [(self.run_ctx.scheme.device(device_id, TopicKind.COMMAND), 1) for device_id in self.devices]
        for start in range(0, len(filters), _SUBSCRIBE_CHUNK):
            codes = await session.subscribe(filters[start : start + _SUBSCRIBE_CHUNK])
            refused = sum(code >= 0x80 for code in codes)
            if refused:
                self.run_ctx.stats.error(f"netserver: {refused} command subscriptions refused")
        # Unacknowledged publishes of the previous connection go out again (at least once).
        pending = list(self._inflight.values())
        self._inflight.clear()
        self._outbox.extendleft(reversed(pending))
        for device_id in self.devices:
            self._status(device_id, DeviceState.ONLINE, "network-server")
        self.online.set()
        self._flush()

    async def shutdown(self) -> None:
        """Retained ``offline`` for every device, wait until the broker acknowledged everything, DISCONNECT."""
        session = self.session
        if session is None or not session.connected:
            return
        for device_id in self.devices:
            self._status(device_id, DeviceState.OFFLINE, "shutdown")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10.0):
                await self._drained.wait()  # set by the last PUBACK, or when the connection ends (run)
        await session.disconnect()
