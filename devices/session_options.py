"""How a simulated device's MQTT session is opened: its options and the socket bound to the device's address."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from ssl import SSLContext

from devices.mqtt5 import Will


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """Where a session connects and as whom: one device's client id, credentials, will and session settings."""

    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    keepalive_s: int = 60
    will: Will | None = None
    clean_start: bool = True
    session_expiry_s: int = 0
    receive_maximum: int = 0
    local_address: str | None = None
    """Bind the socket to this source address before connecting (the device's own IPv6)."""
    connect_timeout_s: float = 30.0
    ssl: SSLContext | None = None
    """Connect with TLS using this context (:func:`smartcity.mqtt_tls.client_context`); None: plain TCP."""


def bound_socket(options: SessionOptions) -> socket.socket | None:
    """A non-blocking socket bound to ``options.local_address`` (or None when no binding is asked for).
    ``IP_BIND_ADDRESS_NO_PORT`` defers port choice to connect(), so thousands of bound sockets do not exhaust
    the ephemeral ports of one address."""
    if options.local_address is None:
        return None
    family = socket.AF_INET6 if ":" in options.local_address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        no_port = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_IP, no_port, 1)
        sock.bind((options.local_address, 0))
    except BaseException:
        sock.close()
        raise
    return sock
