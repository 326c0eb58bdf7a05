"""Splitting the byte stream of one connection into packets, incrementally (``data_received`` chunks in)."""

from __future__ import annotations

from devices.mqtt5.codes import PacketType
from devices.mqtt5.decode import Packet, ProtocolError, read_varint


class PacketReader:
    """Splits a byte stream into packets. Feed it what ``data_received`` got; iterate the complete packets.

    Linear in the bytes fed: while a packet whose length is known is incomplete, the chunks are only collected and
    joined once it is whole, so a large packet arriving in many small reads costs one copy, not one per read."""

    __slots__ = ("_buffer", "_chunks", "_have", "_need")

    def __init__(self) -> None:
        self._buffer = b""
        self._chunks: list[bytes] = []
        self._have = 0
        self._need = 0
        """Total bytes of the incomplete packet at the head of the buffer (0 while its header is incomplete)."""

    @property
    def empty(self) -> bool:
        """No partial packet is waiting for more bytes."""
        return not self._buffer and not self._chunks

    def feed(self, data: bytes) -> list[Packet]:
        if self._chunks:
            self._chunks.append(data)
            self._have += len(data)
            if self._have < self._need:
                return []
            buffer = b"".join(self._chunks)
            self._chunks.clear()
        else:
            buffer = self._buffer + data if self._buffer else data
        packets: list[Packet] = []
        pos, size = 0, len(buffer)
        self._need = 0
        while size - pos >= 2:
            first = buffer[pos]
            try:
                length, body_start = read_varint(buffer, pos + 1)
            except IndexError:
                break
            end = body_start + length
            if end > size:
                self._need = end - pos
                break
            kind = first >> 4
            if kind == 0:
                raise ProtocolError("packet type 0 is reserved")
            packets.append(Packet(PacketType(kind), first & 0x0F, buffer[body_start:end]))
            pos = end
        rest = buffer[pos:]
        if self._need:
            self._buffer = b""
            self._chunks.append(rest)
            self._have = len(rest)
        else:
            self._buffer = rest
        return packets
