"""The internal reading type that every wire format maps onto, and the documented rejection reasons."""

from __future__ import annotations

import enum

import msgspec

Value = float | int | bool | str


class Reading(msgspec.Struct, frozen=True, gc=False):
    """One device's values at one instant. Timestamps come from the device, so a re-delivered reading
    is written to the same InfluxDB point (idempotent at-least-once)."""

    device_id: str
    seq: int | None
    """Per-device sequence number, 0 <= seq < 2**63; gaps measure loss, repeats are duplicates. None: the producer
    sends none (a plain RFC 8428 SenML pack, a third-party sensor), so its loss is unmeasured, not zero."""
    ts_ms: int
    """Device timestamp, milliseconds since the Unix epoch (UTC)."""
    values: dict[str, Value]


class RejectReason(enum.StrEnum):
    """Why input was refused. Each value is also the last level of the dead-letter topic and a metric label."""

    BAD_TOPIC = "bad-topic"
    OVERSIZED = "oversized"
    MALFORMED_JSON = "malformed-json"
    MALFORMED_CBOR = "malformed-cbor"
    DUPLICATE_KEY = "duplicate-key"
    WRONG_SCHEMA = "wrong-schema"
    EMPTY_PACK = "empty-pack"
    TOO_MANY_RECORDS = "too-many-records"
    UNKNOWN_DEVICE = "unknown-device"
    TOPIC_MISMATCH = "topic-mismatch"
    UNKNOWN_METRIC = "unknown-metric"
    WRONG_TYPE = "wrong-type"
    UNIT_MISMATCH = "unit-mismatch"
    """A SenML record's unit differs from the registry's unit for the metric."""
    NON_FINITE = "non-finite"
    OUT_OF_RANGE = "out-of-range"
    TIMESTAMP_FUTURE = "timestamp-future"
    TIMESTAMP_PAST = "timestamp-past"
    STORE_REJECTED = "store-rejected"
    """InfluxDB refused the point (HTTP 400, partial write); the detail carries its message."""
    TIMESTAMP_COLLISION = "timestamp-collision"
    """A different reading of the same device at the same millisecond was accepted first; storing this one would
    silently overwrite its values in InfluxDB (same measurement, tags and time). Set by the gateway, not the
    parser; a redelivery of the same reading is not a collision."""


class Rejection(msgspec.Struct, frozen=True):
    reason: RejectReason
    detail: str
    """Human-readable: names the offending element (``m.no2``, ``record 3``) and the rule it broke."""
    device_id: str | None = None


class ParseOutcome(msgspec.Struct):
    """What one MQTT message yielded: valid readings are kept even when other parts of it are rejected."""

    readings: list[Reading] = msgspec.field(default_factory=list)
    rejections: list[Rejection] = msgspec.field(default_factory=list)
    relative: bool = False
    """Some SenML time was relative (below 2**28 s) or absent, so it was resolved against the anchor: a
    redelivery must be parsed with the same anchor to land on the same points (see docs/CONTRACT.md)."""
