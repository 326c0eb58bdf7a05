"""A minimal keep-alive HTTP/1.1 client for the API benchmark's load: one request at a time per connection, the
whole answer read (``Content-Length`` or chunked), nothing decoded.

Measured here (32 connections asking for a district's latest values, a 1 MB answer): ``httpx.AsyncClient`` spent
5.8 ms of CPU per answer in this process, four times the API's own 1.3-1.5 ms, so the client and not the server
set the pace; asyncio streams spend 0.8 ms. Both sides of every ratio (the API, and influxd for the same route)
use this client, with the headers the API's own InfluxDB client sends (``Accept-Encoding: gzip``: influxd
compresses what it answers the API, so it does for the baseline too).
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit


class HttpError(RuntimeError):
    """The server's answer could not be read."""


class Connection:
    """One keep-alive connection to ``base_url`` (``http://host:port``), opened on first use and again after the
    server closed it."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"need http://host:port, not {base_url!r}")
        self._host, self._port = parts.hostname, parts.port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(
        self, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, bytes]:
        """Send one request and return its status and body. A kept-alive connection the server has closed in
        the meantime (uvicorn closes one idle for 5 s) is opened again and the request sent once more, as
        HTTP clients do for requests that change nothing."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self._host}:{self._port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        message = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        reused = self._streams is not None
        try:
            head = await self._send(message)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            await self.close()
            if not reused:
                raise HttpError(f"no answer to {method} {target}: {exc!r}") from exc
            try:
                head = await self._send(message)
            except (asyncio.IncompleteReadError, ConnectionError) as again:
                await self.close()
                raise HttpError(f"no answer to {method} {target}: {again!r}") from again
        if self._streams is None:
            raise HttpError(f"no answer to {method} {target}")
        reader = self._streams[0]
        status, fields = _head(head)
        try:
            if "content-length" in fields:
                content = await reader.readexactly(int(fields["content-length"]))
            elif fields.get("transfer-encoding", "").lower() == "chunked":
                content = await _chunks(reader)
            else:
                raise HttpError(f"{method} {target}: an answer with neither Content-Length nor chunks")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as exc:
            await self.close()
            raise HttpError(f"{method} {target}: the answer was cut short: {exc!r}") from exc
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, content

    async def _send(self, message: bytes) -> bytes:
        """Write a request (opening the connection when needed) and read the head of its answer."""
        if self._streams is None:
            self._streams = await asyncio.open_connection(self._host, self._port)
        reader, writer = self._streams
        writer.write(message)
        try:
            return await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as exc:
            raise HttpError("an answer's head longer than 64 KiB") from exc

    async def close(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def _head(head: bytes) -> tuple[int, dict[str, str]]:
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise HttpError(f"not an HTTP answer: {status_line[:80]!r}")
    fields = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        if name:
            fields[name.strip().lower()] = value.strip()
    return int(parts[1]), fields


async def _chunks(reader: asyncio.StreamReader) -> bytes:
    pieces: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers are sent here: the empty line ends the answer
            return b"".join(pieces)
        pieces.append(await reader.readexactly(size))
        await reader.readexactly(2)
