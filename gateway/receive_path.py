"""The paho-mqtt 2.x client with a lean receive path: the only module that touches paho's private internals.

``tests/unit/test_gateway_receive_path.py`` fails loudly when a paho release changes what is used here:

- :meth:`FastClient.pump` reads the socket in large chunks and splits them into packets (paho reads each packet
  with several ``recv`` calls), decodes PUBLISH packets without building a ``Properties`` object and an
  ``MQTTMessage`` per message (measured as more than half the receive cost) and hands ``(topic, payload, qos,
  mid)`` straight to the sink. Other packets go to paho's ``_packet_handle`` as paho's own reader passes them.
- :meth:`FastClient.queue_pubacks` queues many PUBACK packets as one buffer: one socket write instead of one each.
- While :attr:`FastClient.hold` is set, PUBLISH packets are kept in :attr:`FastClient.held` (in arrival order)
  instead of going to the sink, but every other packet (PUBACK, SUBACK, PINGRESP, DISCONNECT) is still handled:
  backpressure stops new work, never the packets that let work in flight finish. :meth:`FastClient.release`
  hands the held messages on, before any newer one.
- A packet larger than what is buffered is gathered chunk by chunk and joined once (linear in its size).
- :meth:`FastClient.drop` closes the socket without DISCONNECT (paho's ``_sock_close``).
"""

from __future__ import annotations

import struct
import time
from collections import deque
from collections.abc import Callable, Iterable

import paho.mqtt.client as paho
from paho.mqtt.client import time_func
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.exception import MalformedPacket

MessageSink = Callable[[str, bytes, int, int, bool], None]
"""Called for every PUBLISH received: ``(topic, payload, qos, mid, dup)``; ``dup`` is the MQTT DUP flag (the broker
delivers this message again). Must not raise."""

_PUBACK = paho.PUBACK
_PUBLISH = paho.PUBLISH
_QOS2_BITS = 0x04
_READ_CHUNK = 256 * 1024
PUBACK_PACK = struct.Struct("!BBH").pack


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


class FastClient(paho.Client):
    """paho's client with a leaner receive path (see the module docstring).

    :meth:`pump` replaces ``loop_read``: it reads the socket in large chunks, splits them into MQTT packets itself
    and hands PUBLISH packets (QoS 0 and 1) straight to :attr:`sink`; every other packet goes through paho's own
    ``_packet_handle`` exactly as ``_packet_read`` would pass it.
    """

    sink: MessageSink
    hold: bool
    """Keep PUBLISH packets in :attr:`held` instead of calling the sink (backpressure)."""
    held: deque[tuple[str, bytes, int, int, bool]]
    held_bytes: int
    _pending: bytes
    _parts: list[bytes]
    _parts_size: int
    _need: int
    last_rx: float

    def prepare(self, sink: MessageSink) -> None:
        self.sink = sink
        self.hold = False
        self.held = deque()
        self.held_bytes = 0
        self._pending = b""
        self._parts = []
        self._parts_size = 0
        self._need = 0
        self.last_rx = time.monotonic()

    def release(self, budget: int) -> bool:
        """Hand up to ``budget`` held messages to the sink, oldest first, until :attr:`hold` is set again (the sink
        may set it); return whether messages are still held."""
        held, sink = self.held, self.sink
        while held and not self.hold and budget > 0:
            topic, payload, qos, mid, dup = held.popleft()
            self.held_bytes -= len(payload)
            sink(topic, payload, qos, mid, dup)
            budget -= 1
        return bool(held)

    def pump(self, budget: int) -> tuple[MQTTErrorCode, bool]:
        """Handle up to ``budget`` packets, reading the socket once if the buffer runs dry.

        Returns paho's result code and whether complete packets are still buffered (call again soon).
        """
        handled, rc = (0, MQTTErrorCode.MQTT_ERR_SUCCESS) if self._parts else self._handle_buffered(budget)
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
        if self._parts:  # gathering one large packet: join its chunks once, when all are here
            self._parts.append(chunk)
            self._parts_size += len(chunk)
            if self._parts_size < self._need:
                return MQTTErrorCode.MQTT_ERR_SUCCESS, False
            self._pending, self._parts, self._parts_size = b"".join(self._parts), [], 0
        else:
            pending = self._pending + chunk if self._pending else chunk
            if len(pending) < self._need:
                self._pending, self._parts, self._parts_size = b"", [pending], len(pending)
                return MQTTErrorCode.MQTT_ERR_SUCCESS, False
            self._pending = pending
        more, rc = self._handle_buffered(budget - handled)
        return rc, handled + more >= budget

    def _handle_buffered(self, budget: int) -> tuple[int, MQTTErrorCode]:
        # The hot loop of the gateway: one iteration per MQTT packet, PUBLISH decoded inline (no slices but the
        # topic and the payload, no calls but the sink's).
        buf = self._pending
        size = len(buf)
        sink = self.sink
        held = self.held
        # Decided once per call: a pause the sink asks for mid-loop takes effect from the next call (the budget
        # bounds what still goes through), and while anything is held, newer messages queue behind it.
        direct = not self.hold and not held
        pos = 0
        self._need = 0
        handled = 0
        while handled < budget and size - pos >= 2:
            header = buf[pos]
            length = buf[pos + 1]
            index = pos + 2
            if length & 0x80:  # remaining length over 127: a variable byte integer of up to 4 bytes
                parsed = _remaining_length(buf, pos + 1)
                if parsed is None:
                    self._need = size - pos + 1  # incomplete length: at least one more byte
                    break
                if parsed[0] < 0:
                    self._pending = b""
                    return handled, self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_PROTOCOL)
                length, index = parsed
            end = index + length
            if end > size:
                self._need = end - pos  # incomplete packet: wait until all of it is here
                break
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
                if direct:
                    sink(text, buf[cursor:end], qos, mid, header & 0x08 != 0)
                else:  # held messages go first, in arrival order (PUBACK order)
                    payload = buf[cursor:end]
                    held.append((text, payload, qos, mid, header & 0x08 != 0))
                    self.held_bytes += len(payload)
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

    def queue_pubacks(self, mids: Iterable[int]) -> None:
        """Acknowledge QoS 1 messages: many PUBACK packets in one buffer, written when the socket is writable."""
        blob = b"".join([PUBACK_PACK(_PUBACK, 2, mid) for mid in mids])
        if blob:
            self._packet_queue(_PUBACK, blob, 0, 0)

    def drop(self) -> None:
        """Close the socket without DISCONNECT (the broker then publishes nothing: the gateway has no will)."""
        self._sock_close()
