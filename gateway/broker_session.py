"""The broker adapter: one MQTT 5 connection with a persistent session, driven by the asyncio event loop.

aiomqtt acknowledges a QoS 1 message on receipt; the gateway must acknowledge only after the message's points are
durable, so this module uses paho-mqtt 2.x with ``manual_ack=True`` (through :class:`FastClient`, which holds every
use of paho's internals) and drives it through paho's socket callbacks: ``add_reader``/``add_writer`` plus a
``loop_misc`` timer, as paho's asyncio example does. No threads.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Iterable, Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from gateway.errors import BrokerError
from gateway.receive_path import FastClient, MessageSink
from smartcity.mqtt_tls import client_context
from smartcity.settings import MqttSettings

log = logging.getLogger(__name__)

__all__ = ["BrokerError", "BrokerSession", "MessageSink"]

_PACKETS_PER_WAKEUP = 2_000
"""Bound the work done in one reader callback so timers and writers still run under a flood."""
HOLD_LIMIT_BYTES = 1024 * 1024
"""Most payload bytes held while paused before the socket itself stops being read: about a batch of readings.
Enough for the acknowledgements and pings behind a few packets of messages to be read; beyond it the broker keeps
the messages (holding a whole Receive Maximum would cost memory and a second pass for nothing: no writer waits on a
packet from the broker)."""


class BrokerSession:
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
        client = FastClient(
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
        if (tls := client_context(settings)) is not None:
            client.tls_set_context(tls)  # paho handshakes inside connect(), bounded by connect_timeout
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
        self._hard_paused = False
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
        """Subscribe to every filter in one SUBSCRIBE; raise when the broker refuses any of them.

        Retained messages (every device's status and birth) are sent only for a subscription the session does not
        have yet: a reconnect to a persistent session does not read them all again."""
        options = SubscribeOptions(qos=qos, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
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

    async def disconnect(self) -> None:
        """Send DISCONNECT (the session stays on the broker) and close."""
        if self.is_open:
            self._client.disconnect()
            self._flush()
        self.close("disconnected")

    def close(self, reason: str) -> None:
        """Drop the connection without DISCONNECT (used by the watchdog and on errors)."""
        self._client.drop()
        self._lost(reason)

    # -- traffic -----------------------------------------------------------------------------------------------

    def ack(self, mids: Iterable[int]) -> None:
        """Acknowledge QoS 1 messages, many PUBACK packets in one socket write."""
        if not self.is_open:
            return  # a message not acked on this connection is redelivered on the next one
        self._client.queue_pubacks(mids)

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
        """Stop taking new messages (backpressure). The socket is still read, so that PUBACKs, SUBACK and PINGRESP
        arrive and the keepalive holds; PUBLISH packets are held in arrival order. Once more than
        :data:`HOLD_LIMIT_BYTES` are held, the socket is not read until :meth:`resume_reading`."""
        self._client.hold = True

    def resume_reading(self) -> None:
        self._client.hold = False
        if self._sock is not None:
            if self._hard_paused:
                self._hard_paused = False
                self._loop.add_reader(self._sock, self._on_readable)
            self._loop.call_soon(self._on_readable)  # held messages, and packets waiting in the buffer

    @property
    def paused(self) -> bool:
        """True while new messages are not taken (:meth:`pause_reading`)."""
        return self._client.hold

    @property
    def reading(self) -> bool:
        """False only while the socket is not read at all (over :data:`HOLD_LIMIT_BYTES` held)."""
        return not self._hard_paused

    # -- paho callbacks ----------------------------------------------------------------------------------------

    def _on_readable(self) -> None:
        if self._sock is None or self._hard_paused:
            return
        client = self._client
        budget = _PACKETS_PER_WAKEUP
        if client.held and not client.hold and client.release(budget):
            self._loop.call_soon(self._on_readable)  # more held: one wake-up's worth at a time
            return
        try:
            rc, more = client.pump(budget)
        except Exception as exc:  # a broken packet or a paho bug: drop the connection, un-acked messages come back
            log.exception("reading from the broker failed")
            self.close(f"read failed: {exc!r}")
            return
        if rc:
            self._lost(f"connection lost while reading: {paho.error_string(rc)}")
        elif client.held_bytes > HOLD_LIMIT_BYTES and self._sock is not None:
            self._hard_paused = True
            self._loop.remove_reader(self._sock)
            log.warning(
                "%d bytes of messages held: not reading the broker until the writers catch up", client.held_bytes
            )
        elif more or (isinstance(self._sock, ssl.SSLSocket) and self._sock.pending()):
            # TLS: bytes already decrypted wait in the SSL object, and the socket may never turn readable for them
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
