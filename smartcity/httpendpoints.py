"""``/metrics`` (Prometheus text format), ``/healthz`` (the process is alive) and ``/readyz`` (every readiness check
passes; a check reported as ``degraded...`` still counts as ready), served by a minimal asyncio HTTP/1.1 server so
that the worker processes (gateway, roll-ups) need no web framework."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

_REQUEST_LIMIT = 8192


def _response(status: str, body: bytes, content_type: str = "text/plain; charset=utf-8") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class HttpEndpoints:
    """Answers the three GET endpoints; ``ready`` decides /readyz: each check is ``ok``, ``degraded...`` (still
    ready: 200) or anything else (503)."""

    def __init__(self, registry: CollectorRegistry, ready: Callable[[], dict[str, str]]) -> None:
        self._registry = registry
        self._ready = ready

    def answer(self, method: str, path: str) -> bytes:
        path = path.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return _response("405 Method Not Allowed", b"only GET\n")
        if path == "/metrics":
            return _response("200 OK", generate_latest(self._registry), CONTENT_TYPE_LATEST)
        if path == "/healthz":
            return _response("200 OK", b"ok\n")
        if path == "/readyz":
            checks = self._ready()
            text = "".join(f"{name}: {state}\n" for name, state in checks.items()).encode()
            ready = all(state == "ok" or state.startswith("degraded") for state in checks.values())
            return _response("200 OK" if ready else "503 Service Unavailable", text)
        return _response("404 Not Found", b"not found: try /metrics, /healthz or /readyz\n")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            request_line = head[: min(len(head), _REQUEST_LIMIT)].split(b"\r\n", 1)[0].decode("latin-1")
            parts = request_line.split(" ")
            answer = self.answer(parts[0], parts[1]) if len(parts) == 3 else _response("400 Bad Request", b"")
            writer.write(answer)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def serve_http(endpoints: HttpEndpoints, host: str, port: int, port_file: Path | None) -> AsyncIterator[int]:
    """Serve until the context exits; yields the bound port (port 0 picks a free one, also written to port_file)."""
    server = await asyncio.start_server(endpoints._handle, host, port, limit=_REQUEST_LIMIT)
    bound = int(server.sockets[0].getsockname()[1])
    if port_file is not None:
        port_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = port_file.with_suffix(".tmp")
        temporary.write_text(f"{bound}\n")
        temporary.replace(port_file)  # a reader never sees a half-written file
    log.info("metrics and health on http://%s:%d/metrics", host if ":" not in host else f"[{host}]", bound)
    try:
        yield bound
    finally:
        server.close()
        await server.wait_closed()
