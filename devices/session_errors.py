"""What can go wrong on a simulated device's MQTT session, as one small hierarchy.

Error tree::

    SessionError
    ├── ConnectRefused   CONNACK with a failure reason code (bad credentials, not authorised, ...)
    └── SessionClosed    the connection is gone (or never came up in time)
        └── BrokerDisconnected   the broker sent DISCONNECT with a reason code (packet too large, taken over...)

:class:`~devices.session.MqttSession` raises them; devices count them by kind (``connect_refused``,
``connect_failed``, ``broker_disconnect.<reason>``) and reconnect.
"""

from __future__ import annotations

from devices import mqtt5

_CONNACK_REASONS = {
    0x80: "unspecified error",
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
    0x88: "server unavailable",
    0x89: "server busy",
    0x8A: "banned",
    0x9F: "connection rate exceeded",
}


class SessionError(Exception):
    """Base class of the session's errors."""


class ConnectRefused(SessionError):
    def __init__(self, client_id: str, reason: int) -> None:
        self.reason = reason
        text = _CONNACK_REASONS.get(reason, "refused")
        super().__init__(f"broker refused client {client_id!r}: {text} (reason code 0x{reason:02x})")


class SessionClosed(SessionError):
    """The connection is closed; nothing more can be sent on this session."""


class BrokerDisconnected(SessionClosed):
    """The broker closed the connection with a DISCONNECT naming its reason (MQTT 5 section 3.14.2.1)."""

    def __init__(self, client_id: str, disconnect: mqtt5.Disconnect) -> None:
        self.reason = disconnect.reason
        text = f": {disconnect.reason_string}" if disconnect.reason_string else ""
        super().__init__(
            f"{client_id}: broker sent DISCONNECT {mqtt5.reason_name(disconnect.reason)}"
            f" (reason code 0x{disconnect.reason:02x}){text}"
        )
