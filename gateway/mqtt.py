"""The broker adapter: one paho-mqtt 2.x client driven by the asyncio event loop, without threads.

aiomqtt acknowledges a QoS 1 message on receipt; the gateway must acknowledge only after the message's points are
durable, so this module uses paho with ``manual_ack=True`` and drives it through paho's socket callbacks
(``add_reader``/``add_writer`` plus a ``loop_misc`` timer, as paho's asyncio example does).

Everything that depends on paho's private internals lives here and nowhere else, and
``tests/unit/test_gateway_mqtt.py`` fails loudly when paho changes them:

- ``_FastClient.pump`` reads the socket in large chunks and splits them into packets (paho reads each packet
  with several ``recv`` calls), decodes PUBLISH packets without building a ``Properties`` object and an
  ``MQTTMessage`` per message (measured as more than half the receive cost) and hands ``(topic, payload, qos,
  mid)`` straight to the sink. Other packets go to paho's ``_packet_handle`` as paho's own reader would pass them.
- :meth:`MqttSession.ack` queues one buffer holding many PUBACK packets instead of one write per ack.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.client import time_func
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from smartcity.settings import MqttSettings

log = logging.getLogger(__name__)

MessageSink = Callable[[str, bytes, int, int], None]
"""Called for every PUBLISH received: ``(topic, payload, qos, mid)``. Must not raise."""

_PUBACK = paho.PUBACK
_PUBLISH = paho.PUBLISH
_QOS2_BITS = 0x04
_READ_CHUNK = 256 * 1024
_PACKETS_PER_WAKEUP = 2_000
"""Bound the work done in one reader callback so timers and writers still run under a flood."""
_PUBACK_PACK = struct.Struct("!BBH").pack


class BrokerError(ConnectionError):
    """The broker refused us, or the connection failed or was lost."""


def _remaining_length(buf: bytes, index: int) -> tuple[int, int] | None:
    """Decode an MQTT variable byte integer at ``index``: ``(value, index after it)``, None when the buffer ends
    first, ``(-1, index)`` when it is longer than the 4 bytes MQTT allows."""
    value, shift, size = 0, 0, len(buf)
    while index < size:
        byte = buf[index]
        index += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, index
        shift += 7
        if shift >= 28:
            return -1, index
    return None


class _FastClient(paho.Client):
    """paho's client with a leaner receive path (see the module docstring).

    :meth:`pump` replaces ``loop_read``: it reads the socket in large chunks, splits them into MQTT packets itself
    and hands PUBLISH packets (QoS 0 and 1) straight to :attr:`sink`; every other packet goes through paho's own
    ``_packet_handle`` exactly as ``_packet_read`` would pass it.
    """

    sink: MessageSink
    _pending: bytes
    last_rx: float

    def prepare(self, sink: MessageSink) -> None:
        self.sink = sink
        self._pending = b""
        self.last_rx = time.monotonic()

    def pump(self, budget: int) -> tuple[MQTTErrorCode, bool]:
        """Handle up to ``budget`` packets, reading the socket once if the buffer runs dry.

        Returns paho's result code and whether complete packets are still buffered (call again soon).
        """
        handled, rc = self._handle_buffered(budget)
        if rc or handled >= budget:
            return rc, handled >= budget
        try:
            chunk = self._sock_recv(_READ_CHUNK)
        except BlockingIOError:
            return MQTTErrorCode.MQTT_ERR_SUCCESS, False
        except OSError:
            return self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST), False
        if not chunk:
            return self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST), False
        self.last_rx = time.monotonic()
        with self._msgtime_mutex:
            self._last_bytes_received = time_func()
        self._pending = self._pending + chunk if self._pending else chunk
        more, rc = self._handle_buffered(budget - handled)
        return rc, handled + more >= budget

    def _handle_buffered(self, budget: int) -> tuple[int, MQTTErrorCode]:
        # The hot loop of the gateway: one iteration per MQTT packet, PUBLISH decoded inline (no slices but the
        # topic and the payload, no calls but the sink's).
        buf = self._pending
        size = len(buf)
        sink = self.sink
        pos = 0
        handled = 0
        while handled < budget and size - pos >= 2:
            header = buf[pos]
            length = buf[pos + 1]
            index = pos + 2
            if length & 0x80:  # remaining length over 127: a variable byte integer of up to 4 bytes
                parsed = _remaining_length(buf, pos + 1)
                if parsed is None:
                    break  # incomplete: wait for more bytes
                if parsed[0] < 0:
                    self._pending = b""
                    return handled, self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_PROTOCOL)
                length, index = parsed
            end = index + length
            if end > size:
                break  # incomplete packet: wait for more bytes
            pos = end
            handled += 1
            if header & 0xF0 == _PUBLISH and (header & 0x06) != _QOS2_BITS:
                start = index + 2
                topic_end = start + ((buf[index] << 8) | buf[index + 1])
                mid = 0
                qos = (header & 0x06) >> 1
                cursor = topic_end
                if qos:
                    mid = (buf[cursor] << 8) | buf[cursor + 1]
                    cursor += 2
                properties = buf[cursor]  # MQTT 5 property length; the properties themselves are not used
                if properties & 0x80:
                    parsed = _remaining_length(buf, cursor)
                    if parsed is None or parsed[0] < 0:
                        self._pending = b""
                        return handled, self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_PROTOCOL)
                    cursor = parsed[1] + parsed[0]
                else:
                    cursor += 1 + properties
                topic = buf[start:topic_end]
                try:
                    text = topic.decode()
                except UnicodeDecodeError:
                    text = topic.decode(errors="replace")
                sink(text, buf[cursor:end], qos, mid)
                continue
            rc = self._paho_packet(header, buf[index:end])
            if rc:
                self._pending = b""
                return handled, self._loop_rc_handle(rc)
            if self._sock is None:  # paho closed the connection (e.g. DISCONNECT from the broker)
                self._pending = b""
                return handled, MQTTErrorCode.MQTT_ERR_CONN_LOST
        self._pending = buf[pos:] if pos else buf
        return handled, MQTTErrorCode.MQTT_ERR_SUCCESS

    def _paho_packet(self, header: int, body: bytes) -> MQTTErrorCode:
        """Let paho handle a packet the fast path does not (CONNACK, SUBACK, PUBACK, PINGRESP, QoS 2, ...)."""
        self._in_packet["command"] = header
        self._in_packet["packet"] = bytearray(body)
        self._in_packet["pos"] = 0
        try:
            rc = self._packet_handle()
        except MalformedPacket:
            rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
        self._in_packet["command"] = 0
        self._in_packet["packet"] = bytearray()
        return rc

    def _handle_publish(self) -> MQTTErrorCode:
        # Reached only through _paho_packet, i.e. for QoS 2 (the gateway subscribes with QoS <= 1).
        return super()._handle_publish()


class MqttSession:
    """One MQTT 5 connection with a persistent session. Create one per connection attempt.

    Messages go to ``sink`` synchronously from the event loop; nothing is acknowledged until :meth:`ack`.
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        client_id: str,
        sink: MessageSink,
        session_expiry_s: int,
        receive_maximum: int,
    ) -> None:
        self._settings = settings
        self._loop = asyncio.get_running_loop()
        client = _FastClient(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5,
            manual_ack=True,
            reconnect_on_failure=False,
        )
        client.prepare(sink)
        client.connect_timeout = 5.0
        if settings.username:
            password = settings.password.get_secret_value() if settings.password else None
            client.username_pw_set(settings.username, password)
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        self._client = client
        self._session_expiry_s = session_expiry_s
        self._receive_maximum = receive_maximum
        self._connected: asyncio.Future[bool] = self._loop.create_future()
        self._closed: asyncio.Future[str] = self._loop.create_future()
        self._subscribed: dict[int, asyncio.Future[None]] = {}
        self._published: dict[int, asyncio.Future[None]] = {}
        self._sock: Any = None
        self._paused = False
        self._misc: asyncio.TimerHandle | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def connect(self) -> bool:
        """Open the connection (clean_start=False); return whether the broker still had our session."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._session_expiry_s
        props.ReceiveMaximum = self._receive_maximum
        try:
            # paho opens the TCP connection synchronously (bounded by connect_timeout); the handshake is async.
            self._client.connect(
                self._settings.host,
                self._settings.port,
                keepalive=self._settings.keepalive_s,
                clean_start=False,
                properties=props,
            )
        except (OSError, ValueError) as exc:
            raise BrokerError(f"cannot connect to {self._settings.host}:{self._settings.port}: {exc}") from exc
        waiters: set[asyncio.Future[Any]] = {self._connected, self._closed}
        await asyncio.wait(waiters, timeout=max(10.0, self._settings.keepalive_s), return_when=asyncio.FIRST_COMPLETED)
        if self._connected.done():
            return self._connected.result()
        self.close("no CONNACK")
        raise BrokerError("the broker did not complete the MQTT handshake")

    async def subscribe(self, filters: Sequence[str], qos: int) -> None:
        """Subscribe to every filter in one SUBSCRIBE; raise when the broker refuses any of them."""
        options = SubscribeOptions(qos=qos)
        result, mid = self._client.subscribe([(topic, options) for topic in filters])
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise BrokerError(f"subscribe failed: {paho.error_string(result)}")
        waiter = self._subscribed[mid] = self._loop.create_future()
        await asyncio.wait({waiter, self._closed}, return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():
            raise BrokerError("connection lost while subscribing")
        waiter.result()

    async def wait_closed(self) -> str:
        """Wait until the connection is lost or closed; return why."""
        return await asyncio.shield(self._closed)

    @property
    def is_open(self) -> bool:
        return self._connected.done() and not self._closed.done()

    @property
    def last_rx(self) -> float:
        """``time.monotonic()`` of the last bytes received from the broker."""
        return self._client.last_rx

    @property
    def paused(self) -> bool:
        return self._paused

    async def disconnect(self) -> None:
        """Send DISCONNECT (the session stays on the broker) and close."""
        if self.is_open:
            self._client.disconnect()
            self._flush()
        self.close("disconnected")

    def close(self, reason: str) -> None:
        """Drop the connection without DISCONNECT (used by the watchdog and on errors)."""
        self._client._sock_close()
        self._lost(reason)

    # -- traffic -----------------------------------------------------------------------------------------------

    def ack(self, mids: Iterable[int]) -> None:
        """Acknowledge QoS 1 messages, many PUBACK packets in one socket write."""
        if not self.is_open:
            return  # a message not acked on this connection is redelivered on the next one
        blob = b"".join([_PUBACK_PACK(_PUBACK, 2, mid) for mid in mids])
        if blob:
            self._client._packet_queue(_PUBACK, blob, 0, 0)

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> asyncio.Future[None]:
        """Publish; the future completes at PUBACK (QoS 1) or fails when the connection is lost first."""
        done: asyncio.Future[None] = self._loop.create_future()
        if not self.is_open:
            done.set_exception(BrokerError("not connected"))
            return done
        info = self._client.publish(topic, payload, qos=qos)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            done.set_exception(BrokerError(f"publish failed: {paho.error_string(info.rc)}"))
        elif qos == 0:
            done.set_result(None)
        else:
            self._published[info.mid] = done
        return done

    def pause_reading(self) -> None:
        """Stop reading from the socket (backpressure for QoS 0; QoS 1 is bounded by Receive Maximum)."""
        if not self._paused and self._sock is not None:
            self._loop.remove_reader(self._sock)
        self._paused = True

    def resume_reading(self) -> None:
        if self._paused and self._sock is not None:
            self._loop.add_reader(self._sock, self._on_readable)
            self._loop.call_soon(self._on_readable)  # packets may be waiting in the buffer
        self._paused = False

    # -- paho callbacks ----------------------------------------------------------------------------------------

    def _on_readable(self) -> None:
        if self._paused or self._sock is None:
            return
        try:
            rc, more = self._client.pump(_PACKETS_PER_WAKEUP)
        except Exception as exc:  # a broken packet or a paho bug: drop the connection, un-acked messages come back
            log.exception("reading from the broker failed")
            self.close(f"read failed: {exc!r}")
            return
        if rc:
            self._lost(f"connection lost while reading: {paho.error_string(rc)}")
        elif more:
            self._loop.call_soon(self._on_readable)

    def _flush(self) -> None:
        if self._sock is not None and self._client.want_write():
            self._client.loop_write()

    def _tick(self) -> None:
        if self._client.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._lost("keepalive expired")
            return
        self._misc = self._loop.call_later(1.0, self._tick)

    def _on_socket_open(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        self._sock = sock
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        if not self._paused:
            self._loop.add_reader(sock, self._on_readable)
        self._misc = self._loop.call_later(1.0, self._tick)

    def _on_socket_close(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)
        self._sock = None
        if self._misc is not None:
            self._misc.cancel()
        self._lost("socket closed")

    def _on_register_write(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        self._loop.add_writer(sock, self._client.loop_write)

    def _on_unregister_write(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        self._loop.remove_writer(sock)

    def _on_connect(self, _c: paho.Client, _u: Any, flags: paho.ConnectFlags, rc: ReasonCode, _p: Any) -> None:
        if rc.is_failure:
            self._lost(f"broker refused the connection: {rc}")
        elif not self._connected.done():
            self._connected.set_result(bool(flags.session_present))

    def _on_disconnect(self, _c: paho.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self._lost(f"disconnected: {rc}")

    def _on_subscribe(self, _c: paho.Client, _u: Any, mid: int, codes: list[ReasonCode], _p: Any) -> None:
        waiter = self._subscribed.pop(mid, None)
        if waiter is None or waiter.done():
            return
        refused = [str(code) for code in codes if code.is_failure]
        if refused:
            waiter.set_exception(BrokerError(f"broker refused the subscription: {', '.join(refused)}"))
        else:
            waiter.set_result(None)

    def _on_publish(self, _c: paho.Client, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        done = self._published.pop(mid, None)
        if done is None or done.done():
            return
        if rc.is_failure:
            done.set_exception(BrokerError(f"broker refused the publish: {rc}"))
        else:
            done.set_result(None)

    def _lost(self, reason: str) -> None:
        if self._closed.done():
            return
        self._closed.set_result(reason)
        if not self._connected.done():
            self._connected.set_exception(BrokerError(reason))
            self._connected.exception()  # consumed here: connect() reports through _closed
        for waiter in (*self._subscribed.values(), *self._published.values()):
            if not waiter.done():
                waiter.set_exception(BrokerError(reason))
                waiter.exception()
        self._subscribed.clear()
        self._published.clear()
