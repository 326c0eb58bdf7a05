"""Stable MQTT client ids for gateway replicas, and the claim record that names who holds one.

Why: the broker keeps a persistent session (and, in a ``$share`` group, keeps queueing that member's share) under a
client id. Two processes on one id take the session from each other on every reconnect, and Mosquitto 2.0.11 does
not tell the displaced one (no DISCONNECT 0x8E: the socket just closes, and a persistent session's will is not
published; tests/integration/test_broker_limits.py). A random id would abandon the queued session at every restart.
So the id is explicit or derived from what is stable per replica, and each holder publishes a retained claim that a
displaced or starting replica can read to name the other holder.

The rule:

- an explicit ``MQTT__CLIENT_ID`` is used as given;
- without a shared group the default ``smartcity-gateway`` (one gateway per broker and topic root);
- with a shared group and no explicit id: ``smartcity-gateway-<hostname>-<6 hex of the spool directory>``. The host
  name is stable per StatefulSet pod; the spool directory is locked by one process per host, so two replicas on
  one machine get different ids too. Never random.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import msgspec

DEFAULT_GATEWAY_CLIENT_ID = "smartcity-gateway"
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9-]+")
_HOST_CHARS = 40


def gateway_client_id(configured: str | None, shared_group: str | None, *, hostname: str, spool_dir: Path) -> str:
    """The client id a gateway connects with (see the module doc for the rule)."""
    if configured:
        return configured
    if not shared_group:
        return DEFAULT_GATEWAY_CLIENT_ID
    host = _NOT_IN_ID.sub("-", hostname).strip("-")[:_HOST_CHARS]
    if not host:
        raise ValueError(f"cannot derive a client id from host name {hostname!r}: set MQTT__CLIENT_ID for each replica")
    digest = hashlib.sha256(str(spool_dir.resolve()).encode()).hexdigest()[:6]
    return f"{DEFAULT_GATEWAY_CLIENT_ID}-{host}-{digest}"


class HolderClaim(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Who holds a client id: published retained (QoS 1) right after CONNACK, cleared (empty retained payload) at
    a clean stop and by the connection's will when it dies. ``instance`` is random per process start: it tells two
    holders apart, it is never part of the client id."""

    client_id: str
    instance: str
    host: str
    pid: int
    started_ms: int

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} (instance {self.instance}, started at {self.started_ms} ms)"


def claim_topic(topic_root: str, client_id: str) -> str:
    """Retained claim of ``client_id`` under the platform's system topics (needs ``readwrite`` in the ACL)."""
    if not client_id or any(char in client_id for char in "/+#"):
        raise ValueError(f"client id {client_id!r} cannot be a topic level")
    return f"{topic_root}/v1/sys/gateway/{client_id}/holder"


def claim_filter(topic_root: str) -> str:
    """Every gateway's claim topic: what the gateway account may read and write."""
    return f"{topic_root}/v1/sys/gateway/+/holder"


def encode_claim(claim: HolderClaim) -> bytes:
    return msgspec.json.encode(claim)


def decode_claim(payload: bytes) -> HolderClaim | None:
    """The claim in a retained payload; None for an empty one (nobody holds the id). Raises ``ValueError`` for a
    payload that is not a claim."""
    if not payload:
        return None
    try:
        return msgspec.json.decode(payload, type=HolderClaim)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not a holder claim: {exc}") from None


def other_holder(own_instance: str, payload: bytes) -> HolderClaim | None:
    """The claim of *another* process on the same client id, or None (no claim, or our own)."""
    claim = decode_claim(payload)
    return claim if claim is not None and claim.instance != own_instance else None
