"""CBOR (RFC 8949) decoding for SenML packs: cbor2's C decoder when its answer is provably complete, and a
strict, bounded decoder for everything else.

cbor2 silently keeps the last of duplicate map keys and decodes anything (tags, deep nesting), so
:func:`decode_fast` accepts its answer only for plain packs and only with a proof that no pair was lost;
:func:`decode` is the strict decoder: it accepts the data model SenML needs (arrays, maps with integer or text
keys, integers, floats of every width, text, bytes, booleans, null), refuses duplicate keys, bounds the nesting
depth, and never preallocates from a length the input claims. Both give the same document for the same input.

Exceptions: :class:`CborError` (not well-formed CBOR), :class:`CborShapeError` (well-formed but outside that data
model), :class:`CborDuplicateKey`.
"""

from __future__ import annotations

import math
import struct
from array import array
from itertools import compress
from operator import eq
from typing import Annotated

import cbor2
import msgspec

_HALF = struct.Struct(">e")
_SINGLE = struct.Struct(">f")
_DOUBLE = struct.Struct(">d")
_BREAK = object()


class CborError(ValueError):
    """The input is not well-formed CBOR (truncated, reserved values, invalid UTF-8, trailing bytes)."""


class CborShapeError(ValueError):
    """Well-formed CBOR that this contract does not accept (tags, undefined, simple values, deep nesting)."""


class CborDuplicateKey(ValueError):
    """A map repeats a key."""


def decode(data: bytes, *, max_depth: int = 3) -> object:
    """Decode one CBOR data item that fills ``data`` exactly. Containers may nest ``max_depth`` deep."""
    decoder = _Decoder(data, max_depth)
    item = decoder.item(0)
    if item is _BREAK:
        raise CborError("unexpected break code at byte 0")
    if decoder.pos != len(data):
        raise CborError(f"{len(data) - decoder.pos} trailing bytes after the data item")
    return item


def declared_array_length(data: bytes) -> int | None:
    """The item count a top-level definite-length array declares in its header, without decoding the items."""
    if not data or data[0] >> 5 != 4 or data[0] & 0x1F > 27:
        return None
    info = data[0] & 0x1F
    if info < 24:
        return info
    size = 1 << (info - 24)
    return int.from_bytes(data[1 : 1 + size], "big") if len(data) > size else None


Plain = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)] | float | str | bool
"""Values the fast path takes: 64-bit integers (cbor2 also reads bignum tags as integers, which the strict
decoder refuses; msgspec bounds stop at int64, so the rest of CBOR's integer range goes the strict way too),
floats, text and booleans (a msgspec union cannot hold both str and bytes: byte strings go the strict way)."""
_PLAIN_PACK = list[dict[int | str, Plain]]


def decode_fast(data: bytes) -> list[dict[int | str, Plain]] | None:
    """An array of maps of :data:`Plain` values (integer or text keys) through cbor2's C decoder, or None when
    the input is anything else or the answer cannot be proved complete; :func:`decode` then decides.

    cbor2 keeps the last of repeated map keys, so the answer needs a proof that no pair was lost. cbor2
    re-encodes a plain document with the shortest integers and lengths but with every float as a 9-byte
    double; subtract what the input's floats can have saved (an over-estimate is safe) and the result is at
    most the length of what was sent minus whatever repeated keys dropped. Equality proves that nothing was
    dropped. Two over-estimates: 6 bytes per 0xf9 byte of the input and 4 per 0xfa byte (half and single float
    markers, and sometimes a byte inside another value), else the shortest exact width of each decoded float.
    """
    try:
        document = msgspec.convert(cbor2.loads(data), _PLAIN_PACK)
        reencoded = len(cbor2.dumps(document))
    except Exception:  # any failure of the C decoder on untrusted bytes: the strict decoder says what is wrong
        return None
    if reencoded - 6 * data.count(b"\xf9") - 4 * data.count(b"\xfa") == len(data):
        return document
    floats = [value for record in document for value in record.values() if type(value) is float]
    return document if reencoded - _float_savings(floats) == len(data) else None


def _float_savings(floats: list[float]) -> int:
    """Bytes the shortest exact widths of ``floats`` save against 9 bytes each as doubles."""
    singles = list(compress(floats, map(eq, floats, array("f", floats))))  # exact as 32-bit floats
    nans = sum(map(math.isnan, floats))  # NaN fits a half, and never equals itself
    return 4 * len(singles) + 2 * sum(map(_fits_half, singles)) + 6 * nans


def _fits_half(value: float) -> bool:
    try:
        return bool(_HALF.unpack(_HALF.pack(value))[0] == value)
    except OverflowError:
        return False


class _Decoder:
    __slots__ = ("data", "max_depth", "pos")

    def __init__(self, data: bytes, max_depth: int) -> None:
        self.data = data
        self.pos = 0
        self.max_depth = max_depth

    def _take(self, count: int) -> bytes:
        start = self.pos
        end = start + count
        if end > len(self.data):
            raise CborError(f"truncated: {count} bytes needed at byte {start}, {len(self.data) - start} left")
        self.pos = end
        return self.data[start:end]

    def _argument(self, info: int, start: int) -> int:
        if info < 24:
            return info
        if info == 24:
            return self._take(1)[0]
        if info == 25:
            return int.from_bytes(self._take(2), "big")
        if info == 26:
            return int.from_bytes(self._take(4), "big")
        if info == 27:
            return int.from_bytes(self._take(8), "big")
        raise CborError(f"reserved additional information {info} at byte {start}")

    def item(self, depth: int) -> object:
        start = self.pos
        initial = self._take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            return self._simple(info, start)
        if info == 31:
            if major in (2, 3):
                return self._indefinite_string(major, start)
            if major in (4, 5):
                return self._container(major, None, depth, start)
            raise CborError(f"indefinite length not allowed for major type {major} at byte {start}")
        argument = self._argument(info, start)
        if major == 0:
            return argument
        if major == 1:
            return -1 - argument
        if major == 2:
            return self._take(argument)
        if major == 3:
            return self._text(self._take(argument), start)
        if major in (4, 5):
            return self._container(major, argument, depth, start)
        raise CborShapeError(f"CBOR tag {argument} at byte {start} is not allowed")

    def _simple(self, info: int, start: int) -> object:
        if info == 20:
            return False
        if info == 21:
            return True
        if info == 22:
            return None
        if info == 25:
            return float(_HALF.unpack(self._take(2))[0])
        if info == 26:
            return float(_SINGLE.unpack(self._take(4))[0])
        if info == 27:
            return float(_DOUBLE.unpack(self._take(8))[0])
        if info == 31:
            return _BREAK
        if info == 24:
            value = self._take(1)[0]
            if value < 32:
                raise CborError(f"simple value {value} encoded in two bytes at byte {start}")
            raise CborShapeError(f"simple value {value} at byte {start} is not allowed")
        if info < 24:
            raise CborShapeError(f"simple value {info} (undefined or unassigned) at byte {start} is not allowed")
        raise CborError(f"reserved additional information {info} at byte {start}")

    @staticmethod
    def _text(raw: bytes, start: int) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CborError(f"text string at byte {start} is not valid UTF-8") from None

    def _indefinite_string(self, major: int, start: int) -> bytes | str:
        chunks: list[bytes] = []
        while True:
            chunk_start = self.pos
            initial = self._take(1)[0]
            if initial == 0xFF:
                break
            if initial >> 5 != major or initial & 0x1F == 31:
                raise CborError(f"bad chunk in indefinite-length string at byte {chunk_start}")
            chunks.append(self._take(self._argument(initial & 0x1F, chunk_start)))
        raw = b"".join(chunks)
        return self._text(raw, start) if major == 3 else raw

    def _container(self, major: int, length: int | None, depth: int, start: int) -> object:
        if depth >= self.max_depth:
            raise CborShapeError(f"containers nested more than {self.max_depth} deep at byte {start}")
        if major == 4:
            items: list[object] = []
            count = 0
            while length is None or count < length:
                value = self.item(depth + 1)
                if value is _BREAK:
                    if length is None:
                        return items
                    raise CborError(f"unexpected break code at byte {self.pos - 1}")
                items.append(value)
                count += 1
            return items
        mapping: dict[int | str, object] = {}
        count = 0
        while length is None or count < length:
            key_start = self.pos
            key = self.item(depth + 1)
            if key is _BREAK:
                if length is None:
                    return mapping
                raise CborError(f"unexpected break code at byte {key_start}")
            if type(key) is not int and type(key) is not str:
                raise CborShapeError(f"map key at byte {key_start} is neither an integer nor text")
            if key in mapping:
                raise CborDuplicateKey(f"map key {key!r} at byte {key_start} repeats an earlier key")
            value = self.item(depth + 1)
            if value is _BREAK:
                raise CborError(f"map at byte {start} ends after a key")
            mapping[key] = value
            count += 1
        return mapping
