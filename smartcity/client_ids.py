"""Stable MQTT client ids for gateway replicas.

Why: the broker keeps a persistent session (and, in a ``$share`` group, keeps queueing that member's share) under a
client id. Two processes on one id take the session from each other on every reconnect, and Mosquitto 2.0.11 does
not tell the displaced one (no DISCONNECT 0x8E: the socket just closes, and a persistent session's will is not
published; tests/integration/test_broker_limits.py). A random id would abandon the queued session at every restart.
So the id is explicit or derived from what is stable per replica.

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
