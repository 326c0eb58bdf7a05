"""A lean asyncio MQTT 5 client session: the simulator's one adapter to the broker.

Why not paho or aiomqtt per device: paho builds an MQTT 5 ``Properties`` object for every PUBLISH and runs a
thread or a socket loop per client; ten thousand of them do not fit in two cores (bench/simulator_bench.py
measures both). This session is an ``asyncio.Protocol``: one object, one transport, no task per session; the
worker's event loop multiplexes all of them. It speaks exactly what a device needs (:mod:`devices.mqtt5`).

Errors are :mod:`devices.session_errors`; what a session is opened with is :mod:`devices.session_options`.

Size limit: the broker announces its Maximum Packet Size in CONNACK and disconnects a client that sends more
(DISCONNECT 0x95); the unacknowledged publish would then be resent after every reconnect, forever. So the session
never sends a PUBLISH the server does not admit: it reports it to ``on_ack`` with reason 0x95, as a broker's
PUBACK refusal, and the device counts it by reason like any other refused publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from devices import mqtt5
from devices.mqtt5 import ConnAck, IncomingPublish, PacketType
from devices.session_errors import BrokerDisconnected, ConnectRefused, SessionClosed
from devices.session_options import SessionOptions, bound_socket

log = logging.getLogger(__name__)

MessageHandler = Callable[[IncomingPublish], None]
AckHandler = Callable[[int, int], None]


class MqttSession(asyncio.Protocol):
    """One MQTT 5 connection. Create it with :meth:`open`; callbacks run on the event loop."""

    def __init__(self, client_id: str, on_message: MessageHandler | None, on_ack: AckHandler | None) -> None:
        self.client_id = client_id
        self._on_message = on_message
        self._on_ack = on_ack
        self._reader = mqtt5.PacketReader()
        self._transport: asyncio.Transport | None = None
        self._connack: asyncio.Future[ConnAck] | None = None
        self._subacks: dict[int, asyncio.Future[list[int]]] = {}
        self.closed: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        """Resolves when the connection ends: None after our own DISCONNECT, else what ended it."""
        self._lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._next_id = 0
        self.last_tx = self.last_rx = time.monotonic()
        self.bytes_sent = 0
        self.receive_maximum = 65535
        self.maximum_packet_size = 0
        """The server's Maximum Packet Size from CONNACK (0: none announced)."""
        self.disconnect_reason: int | None = None
        """Reason code of the broker's DISCONNECT, when the connection ended with one."""

    @classmethod
    async def open(
        cls,
        options: SessionOptions,
        *,
        on_message: MessageHandler | None = None,
        on_ack: AckHandler | None = None,
    ) -> tuple[MqttSession, ConnAck]:
        """Connect, send CONNECT, wait for CONNACK. Raises :class:`ConnectRefused`, :class:`SessionClosed`
        or ``OSError`` (an unknown source address raises ``EADDRNOTAVAIL`` here: the caller decides)."""
        loop = asyncio.get_running_loop()
        session = cls(options.client_id, on_message, on_ack)
        sock = bound_socket(options)
        try:
            async with asyncio.timeout(options.connect_timeout_s):
                name = options.host if options.ssl is not None else None  # TLS checks the broker's name
                if sock is not None:
                    await loop.sock_connect(sock, (options.host, options.port))
                    await loop.create_connection(lambda: session, sock=sock, ssl=options.ssl, server_hostname=name)
                else:
                    await loop.create_connection(
                        lambda: session, options.host, options.port, ssl=options.ssl, server_hostname=name
                    )
                session._connack = loop.create_future()
                session._write(
                    mqtt5.encode_connect(
                        options.client_id,
                        keepalive_s=options.keepalive_s,
                        clean_start=options.clean_start,
                        username=options.username,
                        password=options.password.encode() if options.password is not None else None,
                        will=options.will,
                        session_expiry_s=options.session_expiry_s,
                        receive_maximum=options.receive_maximum,
                    )
                )
                connack = await session._connack
        except TimeoutError:
            session.abort()
            if sock is not None and session._transport is None:
                sock.close()
            raise SessionClosed(f"{options.client_id}: no CONNACK within {options.connect_timeout_s} s") from None
        except BaseException:
            if sock is not None and session._transport is None:
                sock.close()
            session.abort()
            raise
        if connack.reason >= 0x80:
            session.abort()
            raise ConnectRefused(options.client_id, connack.reason)
        session.receive_maximum = connack.receive_maximum
        session.maximum_packet_size = connack.maximum_packet_size
        return session, connack

    # -- asyncio.Protocol ---------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport is not a subclass

    def data_received(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        if len(data) == 4 and data[0] == 0x40 and data[1] == 2 and self._on_ack is not None and self._reader.empty:
            # Fast path for the commonest packet by far: one bare PUBACK (success, no properties).
            self._on_ack((data[2] << 8) | data[3], 0)
            return
        try:
            packets = self._reader.feed(data)
            for packet in packets:
                self._dispatch(packet)
        except (mqtt5.ProtocolError, ValueError, IndexError) as exc:
            log.warning("%s: protocol error from broker: %s", self.client_id, exc)
            self._fail(SessionClosed(f"protocol error: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if not self._lost.done():
            self._lost.set_result(None)
        error = exc if exc is not None else None
        if not self.closed.done():
            self.closed.set_result(error if error is not None else SessionClosed("connection closed by peer"))
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(SessionClosed(f"{self.client_id}: connection closed before CONNACK"))
        for future in self._subacks.values():
            if not future.done():
                future.set_exception(SessionClosed(f"{self.client_id}: connection closed before SUBACK"))
        self._subacks.clear()

    def _dispatch(self, packet: mqtt5.Packet) -> None:
        kind = packet.type
        if kind is PacketType.PUBACK:
            packet_id, reason = mqtt5.decode_ack(packet.body)
            if self._on_ack is not None:
                self._on_ack(packet_id, reason)
        elif kind is PacketType.PUBLISH:
            message = mqtt5.decode_publish(packet.flags, packet.body)
            if message.qos == 2:
                raise mqtt5.ProtocolError("QoS 2 delivery on a session that subscribed with QoS <= 1")
            if self._on_message is not None:
                self._on_message(message)
            if message.qos == 1:
                # Acknowledged after the handler ran: the handler applies commands synchronously.
                self._write(mqtt5.encode_puback(message.packet_id))
        elif kind is PacketType.CONNACK:
            if self._connack is not None and not self._connack.done():
                self._connack.set_result(mqtt5.decode_connack(packet.body))
        elif kind is PacketType.SUBACK:
            packet_id, codes = mqtt5.decode_suback(packet.body)
            future = self._subacks.pop(packet_id, None)
            if future is not None and not future.done():
                future.set_result(codes)
        elif kind is PacketType.DISCONNECT:
            error = BrokerDisconnected(self.client_id, mqtt5.decode_disconnect(packet.body))
            self.disconnect_reason = error.reason
            log.warning("%s", error)
            self._fail(error)
        elif kind is not PacketType.PINGRESP:
            raise mqtt5.ProtocolError(f"unexpected {kind.name} from broker")

    # -- sending -------------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._transport is not None and not self.closed.done()

    def next_packet_id(self) -> int:
        self._next_id = self._next_id % 0xFFFF + 1
        return self._next_id

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            raise SessionClosed(f"{self.client_id}: not connected")
        transport.write(data)
        self.bytes_sent += len(data)
        self.last_tx = time.monotonic()

    def send(self, packet: bytes) -> None:
        """Write encoded packets (a PUBLISH from :func:`mqtt5.encode_publish`, a retransmission, a joined burst).
        A PUBLISH larger than the server's Maximum Packet Size is not sent but refused (see the module doc)."""
        limit = self.maximum_packet_size
        if limit and len(packet) > limit:
            packets = mqtt5.iter_packets(packet)
            fitting = [one for one in packets if len(one) <= limit]
            if fitting:
                self._write(b"".join(fitting))
            for one in packets:
                if len(one) > limit:
                    self._refuse_oversized(one)
            return
        self._write(packet)

    def _refuse_oversized(self, packet: bytes) -> None:
        packet_id = mqtt5.publish_packet_id(packet)
        log.warning(
            "%s: not sending a PUBLISH of %d bytes: the broker admits at most %d (Maximum Packet Size)",
            self.client_id,
            len(packet),
            self.maximum_packet_size,
        )
        if packet_id and self._on_ack is not None:
            # Reported later, as the broker's PUBACK would be: the caller may be in the middle of its own flush.
            asyncio.get_running_loop().call_soon(self._on_ack, packet_id, mqtt5.PACKET_TOO_LARGE)

    def publish(
        self, topic: bytes, payload: bytes, *, qos: int = 1, retain: bool = False, packet_id: int = 0
    ) -> tuple[int, bytes]:
        """Send a PUBLISH to an encoded topic; returns (packet id, the packet) so QoS 1 callers can keep it for a
        retransmission until :attr:`on_ack` reports the PUBACK. A caller that keeps packets across reconnects
        passes its own ``packet_id`` (unique among its unacknowledged ones)."""
        if qos and not packet_id:
            packet_id = self.next_packet_id()
        packet = mqtt5.encode_publish(topic, payload, qos=qos, packet_id=packet_id, retain=retain)
        self.send(packet)
        return packet_id, packet

    async def subscribe(self, filters: list[tuple[str, int]], timeout_s: float = 10.0) -> list[int]:
        """Subscribe and wait for the SUBACK; returns its reason codes (>= 0x80 is a refusal)."""
        packet_id = self.next_packet_id()
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._subacks[packet_id] = future
        self._write(mqtt5.encode_subscribe(packet_id, filters))
        async with asyncio.timeout(timeout_s):
            return await future

    def ping_if_idle(self, now: float, keepalive_s: float) -> None:
        """PINGREQ when nothing was sent for 3/4 of the keep-alive; abort a half-open connection that has been
        silent for 1.5 keep-alives (the broker's answer never came)."""
        if not self.connected:
            return
        if now - self.last_rx > 1.5 * keepalive_s:
            self._fail(SessionClosed(f"{self.client_id}: no traffic from broker for {now - self.last_rx:.0f} s"))
        elif now - self.last_tx > 0.75 * keepalive_s:
            self._write(mqtt5.PINGREQ)

    @property
    def write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() if self._transport is not None else 0

    # -- ending --------------------------------------------------------------------------------------------
    async def disconnect(self, *, session_expiry_s: int | None = None, timeout_s: float = 5.0) -> None:
        """Clean end: DISCONNECT (reason 0, so the broker discards the will), then wait for the close."""
        if not self.connected:
            return
        if not self.closed.done():
            self.closed.set_result(None)
        with contextlib.suppress(SessionClosed):
            self._write(mqtt5.encode_disconnect(0, session_expiry_s=session_expiry_s))
        transport = self._transport
        if transport is not None:
            transport.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(self._lost)

    def abort(self) -> None:
        """Drop the connection without DISCONNECT (a device that lost power): the broker publishes the will."""
        self._fail(SessionClosed(f"{self.client_id}: aborted"))

    def _fail(self, error: Exception) -> None:
        if not self.closed.done():
            self.closed.set_result(error)
        transport = self._transport
        if transport is not None:
            transport.abort()
