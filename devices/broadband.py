"""Broadband devices: one MQTT 5 session each (own client id and credentials), will, birth, QoS 1 readings.

At every (re)connect the device announces itself: the will is a retained ``offline`` status (fired by the broker
when the socket dies without DISCONNECT), then it publishes a retained :class:`Birth` and a retained ``online``
status and subscribes to its command topic. Readings are QoS 1 with a per-device sequence number; unacknowledged
ones are kept and resent after a reconnect, so a reading may arrive twice but is not lost while the device
buffer (``outbox_limit``) holds. Reconnects use jittered exponential backoff.

What it sends and what waits for a PUBACK is :class:`~devices.broadband_publish.BroadbandPublisher`, which
:class:`BroadbandDevice` extends with the connection: connect (bound to the device's own address when this machine
has it), announce (will, birth, status), the faults that cut the connection, commands and the clean shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from ssl import SSLContext

import msgspec

from devices import mqtt5
from devices.broadband_publish import BroadbandPublisher
from devices.commands import apply_command, decode_command, encode_ack
from devices.device_core import RunContext
from devices.faults import DeviceFaults, Fault
from devices.session import MqttSession
from devices.session_errors import ConnectRefused, SessionError
from devices.session_options import SessionOptions
from devices.signals import DeviceContext
from smartcity.backoff import backoff_delay
from smartcity.contract.messages import Birth, CommandAck, DeviceState, Status
from smartcity.contract.topics import TopicKind

log = logging.getLogger(__name__)
_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class BrokerTarget:
    """How broadband sessions reach the broker (resolved once per worker)."""

    host: str
    port: int
    keepalive_s: int
    session_expiry_s: int
    max_inflight: int
    reconnect_min_s: float
    reconnect_max_s: float
    password_for: Callable[[str], str] | None = None
    """device id -> MQTT password; None = no credentials."""
    local_addresses: frozenset[str] = frozenset()
    """IPv6 addresses this machine has: a device whose address is among them binds its socket to it."""
    outbox_limit: int = 10_000
    ssl: SSLContext | None = None
    """TLS for every session (one context for the worker); None: plain TCP."""


class BroadbandDevice(BroadbandPublisher):
    """One device with its own session. :meth:`run` keeps it connected; :meth:`emit` publishes due readings."""

    def __init__(self, ctx: DeviceContext, run: RunContext, faults: DeviceFaults, target: BrokerTarget) -> None:
        super().__init__(ctx, run, faults, target)
        device_id = ctx.device.id
        scheme = run.scheme
        self._status_topic = scheme.device(device_id, TopicKind.STATUS)
        self._birth_topic = mqtt5.encode_topic(scheme.device(device_id, TopicKind.BIRTH))
        self._ack_topic = mqtt5.encode_topic(scheme.device(device_id, TopicKind.COMMAND_ACK))
        self._cmd_filter = scheme.device(device_id, TopicKind.COMMAND)
        self.bound = False
        self._rng = random.Random(ctx.key)
        self._dropped = False
        self._ever_connected = False

    @property
    def ready(self) -> bool:
        return self._ever_connected and self.run_ctx.gate_open

    # -- connection ----------------------------------------------------------------------------------------
    async def run(self, connect_gate: Callable[[], asyncio.Future[None] | None]) -> None:
        """Stay connected until the run stops or the battery dies; ``connect_gate`` paces connection attempts."""
        attempt = 0
        stats = self.run_ctx.stats
        while not self.run_ctx.stopping and not self.core.dead:
            gate = connect_gate()
            if gate is not None:
                await gate
            try:
                session = await self._connect()
            except ConnectRefused as exc:
                stats.connect_refused(str(exc))
            except (OSError, SessionError) as exc:
                stats.connect_failed(self.device_id, exc)
            else:
                attempt = 0
                await self._live(session)
                if self.run_ctx.stopping or self.core.dead:
                    return
                stats.connection_lost(session.disconnect_reason)
            delay = backoff_delay(attempt, self.target.reconnect_min_s, self.target.reconnect_max_s, self._rng)
            attempt += 1
            await asyncio.sleep(delay)

    async def _connect(self) -> MqttSession:
        device = self.core.ctx.device
        address = str(device.ipv6)
        self.bound = address in self.target.local_addresses and ":" in self.target.host
        will = mqtt5.Will(self._status_topic, self._status(DeviceState.OFFLINE, "will"), qos=1, retain=True)
        options = SessionOptions(
            host=self.target.host,
            port=self.target.port,
            client_id=self.device_id,
            username=self.device_id if self.target.password_for else None,
            password=self.target.password_for(self.device_id) if self.target.password_for else None,
            keepalive_s=self.target.keepalive_s,
            will=will,
            clean_start=False,
            session_expiry_s=self.target.session_expiry_s,
            local_address=address if self.bound else None,
            ssl=self.target.ssl,
        )
        try:
            session, connack = await MqttSession.open(options, on_message=self._on_message, on_ack=self._on_ack)
        except OSError as exc:
            if not self.bound or exc.errno != errno.EADDRNOTAVAIL:
                raise
            self.bound = False  # the address went away: fall back to the default source address
            options = dataclasses.replace(options, local_address=None)
            session, connack = await MqttSession.open(options, on_message=self._on_message, on_ack=self._on_ack)
        try:
            self.session = session
            self._ever_connected = True
            stats = self.run_ctx.stats
            stats.count("connects")
            self._window = max(1, min(self.target.max_inflight, session.receive_maximum))
            self._announce(session)
            if not connack.session_present:
                codes = await session.subscribe([(self._cmd_filter, 1)])
                if any(code >= 0x80 for code in codes):
                    stats.error(f"{self.device_id}: command subscription refused (0x{codes[0]:02x})")
            self._resend(session, connack.session_present)
        except BaseException:
            session.abort()  # half set up (cancelled, or the SUBACK never came): do not leak the socket
            self.session = None
            raise
        return session

    def _announce(self, session: MqttSession) -> None:
        core = self.core
        device = core.ctx.device
        ts = self.run_ctx.clock.sim_ms()
        birth = Birth(
            device_id=device.id,
            device_type=device.type.value,
            firmware=device.firmware,
            ipv6=str(device.ipv6),
            network=device.network.value,
            ts_ms=ts,
            metrics=list(core.ctx.metrics),
            report_interval_s=core.controls.report_interval_s,
            radio=device.radio.value if device.radio else None,
            bound_ipv6=self.bound,
        )
        self._publish(self._birth_topic, _ENCODER.encode(birth), retain=True)
        self._publish(mqtt5.encode_topic(self._status_topic), self._status(DeviceState.ONLINE, "connected"), True)

    async def _live(self, session: MqttSession) -> None:
        loop = asyncio.get_running_loop()
        faults = self.core.faults
        timers: list[asyncio.TimerHandle] = []
        elapsed = self.run_ctx.elapsed()
        if faults.has(Fault.DROPOUT) and not self._dropped and faults.dropout_after_s > elapsed:
            timers.append(loop.call_later(faults.dropout_after_s - elapsed, self._fault_abort, session, Fault.DROPOUT))
        if faults.has(Fault.FLAPPING):
            timers.append(loop.call_later(faults.flap_period_s, self._fault_abort, session, Fault.FLAPPING))
        if faults.has(Fault.BATTERY):
            timers.append(loop.call_later(max(0.0, faults.battery_life_s - elapsed), self._battery_death, session))
        try:
            await session.closed
        finally:
            for timer in timers:
                timer.cancel()
            self.session = None
            if self._last_will_ack is not None and not self._last_will_ack.done():
                self._last_will_ack.set_result(None)

    def _fault_abort(self, session: MqttSession, fault: Fault) -> None:
        if self.run_ctx.stopping:
            return
        if fault is Fault.DROPOUT:
            self._dropped = True
        self.run_ctx.stats.fault(fault)
        session.abort()

    def _battery_death(self, session: MqttSession) -> None:
        if self.run_ctx.stopping:
            return
        self.core.dead = True
        self.run_ctx.stats.fault(Fault.BATTERY)
        session.abort()

    async def shutdown(self) -> None:
        """Clean end: retained ``offline`` status (reason shutdown), wait for its PUBACK, DISCONNECT without will
        and with session expiry 0 (the broker forgets the session)."""
        session = self.session
        if session is None or not session.connected:
            return
        self._release_held()  # before the status, whose PUBACK then follows the reading's
        with contextlib.suppress(SessionError):
            packet_id, _ = session.publish(
                mqtt5.encode_topic(self._status_topic),
                self._status(DeviceState.OFFLINE, "shutdown"),
                retain=True,
                packet_id=self._new_id(),
            )
            self.run_ctx.stats.counters["messages_sent"] += 1
            self._last_will_ack = asyncio.get_running_loop().create_future()
            self._last_will_id = packet_id
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await self._last_will_ack  # resolved by the PUBACK, or when the connection ends (_live)
        await session.disconnect(session_expiry_s=0 if self.target.session_expiry_s else None)

    # -- commands ------------------------------------------------------------------------------------------
    def _on_message(self, message: mqtt5.IncomingPublish) -> None:
        stats = self.run_ctx.stats
        stats.count("commands_received")
        command = decode_command(message.payload)
        ts = self.run_ctx.clock.sim_ms()
        if isinstance(command, CommandAck):
            ack = CommandAck(id=command.id, status="rejected", ts_ms=ts, detail=command.detail)
        else:
            ack = apply_command(self.core.ctx.device.type, self.core.controls, command, ts)
        stats.count("commands_ok" if ack.status == "ok" else "commands_rejected")
        self._publish(self._ack_topic, encode_ack(ack))

    def _status(self, state: DeviceState, reason: str) -> bytes:
        return _ENCODER.encode(Status(state=state, ts_ms=self.run_ctx.clock.sim_ms(), reason=reason))
