"""The narrowband network server: one MQTT session (account ``netserver``) that carries every narrowband
device's traffic, as a LoRaWAN network server or an NB-IoT platform would.

It publishes the devices' packs on ``.../senml-cbor`` (no base name: the network knows the device from the radio
layer), their retained status and their command acks, and subscribes to their command topics; a command waits
in the device's queue until its next uplink (class A receive window).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
from collections import deque
from dataclasses import dataclass
from ssl import SSLContext
from typing import TYPE_CHECKING

import msgspec

from devices import mqtt5
from devices.commands import decode_command, encode_ack
from devices.device_core import RunContext
from devices.outgoing import Outgoing, enqueue, record_puback, send_fault_copies
from devices.session import MqttSession
from devices.session_errors import ConnectRefused, SessionError
from devices.session_options import SessionOptions
from smartcity.backoff import backoff_delay
from smartcity.contract.messages import CommandAck, DeviceState, Status
from smartcity.contract.topics import TopicKind

if TYPE_CHECKING:
    from devices.narrowband import NarrowbandDevice

_ENCODER = msgspec.json.Encoder()
_SUBSCRIBE_CHUNK = 200
_DROPPED = "dropped_netserver_buffer_full"
MALFORMED_CBOR = b"\xa5\x00\xff"
"""A malformed uplink: a CBOR map announcing five pairs, then a break code."""


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
    ssl: SSLContext | None = None


class NetworkServer:
    """One MQTT session that carries every narrowband device's traffic (a LoRaWAN network server / NB-IoT
    platform). Uplinks wait in a bounded outbox while the broker is unreachable."""

    def __init__(self, run: RunContext, account: ServerAccount) -> None:
        self.run_ctx = run
        self.account = account
        self.devices: dict[str, NarrowbandDevice] = {}
        self.session: MqttSession | None = None
        self._outbox: deque[Outgoing] = deque()
        self._inflight: dict[int, Outgoing] = {}
        self._topics: dict[tuple[str, TopicKind], bytes] = {}
        self._rng = random.Random(account.client_id)
        self.online = asyncio.Event()
        self._drained = asyncio.Event()
        """Set while nothing is waiting to be sent or acknowledged."""

    def attach(self, device: NarrowbandDevice) -> None:
        self.devices[device.device_id] = device

    @property
    def idle(self) -> bool:
        """Nothing waits to be sent or acknowledged (the devices' own radio backlogs aside)."""
        return not self._outbox and not self._inflight

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
        # A duplicate is an uplink received by two gateways and forwarded twice.
        send_fault_copies(faults, stats, seq, functools.partial(self._publish, topic), payload, MALFORMED_CBOR)

    def send_ack(self, device_id: str, ack: CommandAck) -> None:
        self._publish(self._topic(device_id, TopicKind.COMMAND_ACK), encode_ack(ack))

    def _status(self, device_id: str, state: DeviceState, reason: str) -> None:
        status = Status(state=state, ts_ms=self.run_ctx.clock.sim_ms(), reason=reason)
        self._publish(self._topic(device_id, TopicKind.STATUS), _ENCODER.encode(status), retain=True)

    def _publish(self, topic: bytes, payload: bytes, retain: bool = False) -> None:
        self._drained.clear()
        enqueue(self._outbox, (topic, payload, retain), self.account.outbox_limit, self.run_ctx.stats, _DROPPED)
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
        if not record_puback(self._inflight, packet_id, reason, self.run_ctx.stats, "netserver"):
            return
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
                stats.connect_refused(f"netserver: {exc}")
            except (OSError, SessionError, TimeoutError) as exc:
                stats.connect_failed("netserver", exc)
            else:
                attempt = 0
                assert self.session is not None
                await self.session.closed
                self.online.clear()
                self._drained.set()  # nothing more can be acknowledged on this connection
                if self.run_ctx.stopping:
                    return
                stats.connection_lost(self.session.disconnect_reason)
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
            ssl=account.ssl,
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
