"""A local HTTP stand-in for an InfluxDB 2.x server, in front of a real influxd (no 2.x server runs here).

Every request is forwarded to the influxd. A ``/write`` that holds points chosen by ``refuse`` is answered the way
InfluxDB 2.x answers a partial write: the other points are written, and the answer is 422 with 2.x's JSON body
(``{"code": "unprocessable entity", "message": "failure writing points to database: partial write: field type
conflict: ... dropped=N"}``) and headers. ``answers`` counts what it answered, ``refused`` holds the refused lines.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

import httpx

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"})


class Influx2Standin:
    """Runs on 127.0.0.1 (a free port) in a thread while used as a context manager; :attr:`url` is its base URL."""

    def __init__(self, upstream: str, refuse: Callable[[str], bool], *, field: str, measurement: str) -> None:
        self._upstream = httpx.Client(base_url=upstream, trust_env=False, timeout=30.0)
        self._lock = threading.Lock()
        self._refuse = refuse
        self._reason = (
            f'field type conflict: input field "{field}" on measurement "{measurement}" is type float, '
            "already exists as type integer"
        )
        self.answers: Counter[int] = Counter()
        """Status codes of the stand-in's answers to /write."""
        self.refused: list[str] = []
        """Every line it refused, once per time it was sent."""
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                standin._serve(self)

            def do_POST(self) -> None:
                standin._serve(self)

            def log_message(self, format: str, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="influx2-standin", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
        self._upstream.close()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        path, _, query = handler.path.partition("?")
        if handler.command == "POST" and path == "/write":
            status, headers, content = self._write(query, body, handler.headers.get("Content-Type", "text/plain"))
        else:
            status, headers, content = self._forward(handler.command, handler.path, body, dict(handler.headers))
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    def _write(self, query: str, body: bytes, content_type: str) -> tuple[int, dict[str, str], bytes]:
        lines = body.decode().split("\n")
        refused = [line for line in lines if self._refuse(line)]
        kept = [line for line in lines if not self._refuse(line)]
        status, headers, content = 204, dict[str, str](), b""
        if kept:
            path = f"/write?{query}"
            status, headers, content = self._forward(
                "POST", path, "\n".join(kept).encode(), {"Content-Type": content_type}
            )
        if status == 204 and refused:
            message = f"failure writing points to database: partial write: {self._reason} dropped={len(refused)}"
            status, content = 422, json.dumps({"code": "unprocessable entity", "message": message}).encode()
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "X-Influxdb-Build": "OSS",
                "X-Influxdb-Version": "v2.7.11",
                "X-Platform-Error-Code": "unprocessable entity",
            }
        with self._lock:
            self.answers[status] += 1
            if status == 422:
                self.refused += refused
        return status, headers, content

    def _forward(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        sent = {key: value for key, value in headers.items() if key.lower() not in _HOP_BY_HOP | {"host"}}
        with self._lock:
            response = self._upstream.request(method, path, content=body, headers=sent)
        kept = {key: value for key, value in response.headers.items() if key.lower() not in _HOP_BY_HOP}
        return response.status_code, kept, response.content
