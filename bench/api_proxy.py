"""A recording HTTP forwarder in front of influxd: the planning API is pointed at it once, asked one request per
benchmarked URL, and every ``/query`` request it sent on the way (method, ``q``, ``params``, ``db``, ``epoch``) is
kept, so the benchmark can send exactly that InfluxQL straight to influxd. Only used to record (it adds a hop);
the timed API talks to influxd directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode

import httpx
import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
_DROPPED = {b"host", b"content-length", b"accept-encoding", b"connection"}
_HOP_BY_HOP = {"content-length", "content-encoding", "transfer-encoding", "connection"}


@dataclass(frozen=True, slots=True)
class InfluxRequest:
    """One ``/query`` request as the API sent it: ``GET`` with these fields in the URL, or ``POST`` with them as a
    form (the API's client posts anything with more than one statement)."""

    method: str
    fields: dict[str, str]

    def raw(self) -> tuple[str, str, dict[str, str], bytes]:
        """Method, target, headers and body of this request as the API's client sends it (``Accept-Encoding`` as
        httpx's default: influxd compresses its answer)."""
        encoded = urlencode(self.fields)
        headers = {"Accept-Encoding": "gzip, deflate"}
        if self.method == "GET":
            return "GET", f"/query?{encoded}", headers, b""
        return "POST", "/query", headers | {"Content-Type": "application/x-www-form-urlencoded"}, encoded.encode()


class RecordingProxy:
    """``async with RecordingProxy(influxd_url) as proxy``: serves on ``proxy.url``; :meth:`take` returns (and
    forgets) the ``/query`` requests recorded so far."""

    def __init__(self, target: str) -> None:
        self._target = target
        self._records: list[InfluxRequest] = []
        self._client = httpx.AsyncClient(base_url=target, trust_env=False, timeout=300.0)
        config = uvicorn.Config(
            self._app, host="127.0.0.1", port=0, interface="asgi3", lifespan="off", log_config=None, access_log=False
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None
        self.url = ""

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._server.serve(), name="recording-proxy")
        async with asyncio.timeout(15):
            while not self._server.started:
                if self._task.done():
                    self._task.result()
                await asyncio.sleep(0.02)
        port = int(self._server.servers[0].sockets[0].getsockname()[1])
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await asyncio.wait_for(self._task, 15)
        await self._client.aclose()

    def take(self) -> list[InfluxRequest]:
        taken, self._records = self._records, []
        return taken

    async def _app(
        self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
    ) -> None:
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        method, path, query = scope["method"], scope["path"], scope["query_string"].decode()
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k.lower() not in _DROPPED}
        if path == "/query":
            fields = dict(parse_qsl(query))
            if body and "form" in headers.get("content-type", ""):
                fields |= dict(parse_qsl(body.decode()))
            self._records.append(InfluxRequest(method, fields))
        answer = await self._client.request(
            method, f"{path}?{query}" if query else path, content=bytes(body), headers=headers
        )
        await send(
            {
                "type": "http.response.start",
                "status": answer.status_code,
                "headers": [
                    (k.encode(), v.encode()) for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer.content})
