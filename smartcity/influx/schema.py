"""The platform's own InfluxDB measurements (everything that is not a reading), written through the line-protocol
encoder and read back through InfluxQL with bind parameters. Components share these definitions through the core.

``device_health``: one point per device and gateway replica; its fields and the merge across replicas are in
:mod:`smartcity.health`, its tags are a reading's registry tags plus ``replica``.

``dead_letters``: one point per rejected MQTT message, the durable record of every rejection.

    tags    reason     a RejectReason value (bounded)
            device     the device id, only for devices of the registry (arbitrary topic text never becomes a tag)
            gateway    the gateway replica (its MQTT client id) that rejected it
    fields  detail            what was wrong, every rejected record (bounded)
            topic             the source topic (bounded, line breaks escaped)
            payload           an excerpt of the payload, as a JSON string literal (so any text round-trips)
            payload_encoding  "utf-8" or "base64"
            payload_bytes     size of the original payload
            rejections        readings or records of the message that were rejected
    time    receive time in ms; the writer keeps it unique per series, so two rejections of the same device and
            reason in one millisecond are two points, never one overwriting the other
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import msgspec

from smartcity.city.directory import DeviceInfo
from smartcity.contract.messages import DeadLetter
from smartcity.contract.reading import Value
from smartcity.influx.client import InfluxClient
from smartcity.influx.lineprotocol import encode_point

DEAD_LETTERS = "dead_letters"
DEVICE_HEALTH = "device_health"
LATE_WINDOWS = "late_windows"
"""Hour windows a gateway wrote late points into (fields in :mod:`smartcity.latewindows`); roll-ups recompute them."""
ROLLUP_PROGRESS = "rollup_progress"
"""Per roll-up tier, the end of the last window the worker completed (see :mod:`smartcity.rollups`)."""
DETAIL_LIMIT = 2_000
"""Longest detail kept (a pack with many rejected records lists the first ones and counts the rest)."""
TOPIC_FIELD_LIMIT = 512
"""Longest source topic kept (MQTT allows 65,535 bytes; the contract's topics are under 100)."""

_JSON = msgspec.json.Encoder()


_CONTROL = str.maketrans({code: f"\\u{code:04x}" for code in (*range(0x20), 0x7F)} | {0x0A: "\\n", 0x0D: "\\r"})


def _one_line(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, line breaks and other control characters escaped as in JSON (line
    protocol cannot carry a line break anywhere)."""
    return text[:limit].translate(_CONTROL)


def device_tags(info: DeviceInfo) -> dict[str, str]:
    """The registry tags every device point carries (readings and the platform's own device records)."""
    return {
        "device": info.device_id,
        "device_type": info.device_type.value,
        "district": info.district_id,
        "facility": info.facility_id,
        "facility_kind": info.facility_kind.value,
    }


def device_health_point(info: DeviceInfo, *, replica: str, fields: Mapping[str, Value], ts_ms: int) -> str:
    """One replica's ``device_health`` line for one device (field names as in :mod:`smartcity.health`)."""
    return encode_point(DEVICE_HEALTH, device_tags(info) | {"replica": replica}, fields, ts_ms)


def dead_letter_point(letter: DeadLetter, *, gateway: str, known_device: bool, ts_ms: int) -> str:
    """The ``dead_letters`` line for ``letter``; ``known_device`` says whether ``letter.device_id`` may be a tag."""
    tags = {"reason": letter.reason, "gateway": gateway}
    if known_device and letter.device_id:
        tags["device"] = letter.device_id
    fields: dict[str, str | int] = {
        "detail": _one_line(letter.detail, DETAIL_LIMIT),
        "topic": _one_line(letter.topic, TOPIC_FIELD_LIMIT),
        "payload": _JSON.encode(letter.payload).decode(),
        "payload_encoding": letter.payload_encoding,
        "payload_bytes": letter.payload_bytes,
        "rejections": letter.rejections,
    }
    return encode_point(DEAD_LETTERS, tags, fields, ts_ms)


class _StoredLetter(msgspec.Struct):
    time: int
    reason: str
    detail: str
    topic: str
    payload: str
    payload_encoding: str = "utf-8"
    payload_bytes: int = 0
    rejections: int = 1
    device: str | None = None
    gateway: str | None = None


async def read_dead_letters(
    influx: InfluxClient, *, since_ms: int = 0, reason: str | None = None, limit: int = 1000
) -> list[DeadLetter]:
    """Dead letters stored since ``since_ms`` (oldest first), optionally of one reason; at most ``limit``."""
    where = ["time >= $since"]
    params: dict[str, str | int] = {"since": since_ms * 1_000_000}
    if reason is not None:
        where.append('"reason" = $reason')
        params["reason"] = reason
    query = f"SELECT * FROM {DEAD_LETTERS} WHERE {' AND '.join(where)} ORDER BY time ASC LIMIT {int(limit)}"
    letters: list[DeadLetter] = []
    for series in await influx.query(query, params):
        for row in series.records():
            stored = msgspec.convert({k: v for k, v in row.items() if v is not None}, _StoredLetter)
            letters.append(_letter(stored))
    return letters


def _letter(stored: _StoredLetter) -> DeadLetter:
    encoding: Literal["utf-8", "base64"] = "base64" if stored.payload_encoding == "base64" else "utf-8"
    return DeadLetter(
        reason=stored.reason,
        detail=stored.detail,
        topic=stored.topic,
        received_ms=stored.time,
        payload=msgspec.json.decode(stored.payload, type=str),
        payload_encoding=encoding,
        device_id=stored.device,
        rejections=stored.rejections,
        payload_bytes=stored.payload_bytes,
    )
