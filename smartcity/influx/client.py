"""Async adapter for the InfluxDB v1 HTTP API (``/write`` line protocol, ``/query`` InfluxQL, ``/ping``), which
InfluxDB 1.x, 2.x (DBRP mapping) and 3.x all serve. One keep-alive ``httpx.AsyncClient`` per adapter, owned by
``async with``; every failure leaves as one of :mod:`smartcity.influx.errors`."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
from collections.abc import Awaitable, Iterator, Mapping
from types import TracebackType
from typing import Self

import httpx
import msgspec

from smartcity.influx.errors import (
    InfluxAuthError,
    InfluxError,
    InfluxQueryError,
    InfluxRejected,
    InfluxTooLarge,
    InfluxUnavailable,
)
from smartcity.influx.write_answers import error_text, raise_for_write_answer, retry_after
from smartcity.settings import InfluxSettings

log = logging.getLogger(__name__)

ParamValue = str | int | float | bool
JsonScalar = str | int | float | bool | None
PRECISIONS = frozenset({"ns", "u", "ms", "s", "m", "h"})
"""Timestamp units of ``/write?precision=`` and ``/query?epoch=``."""

# A statement that only reads may go as GET; anything else (CREATE, DROP, DELETE, SELECT ... INTO, ...) must be
# POSTed. When in doubt, POST: InfluxDB serves reads on POST too.
_READ_ONLY = re.compile(r"^\s*(SELECT|SHOW|EXPLAIN)\b", re.IGNORECASE)
_WRITE_HINTS = re.compile(r"\bINTO\b|;", re.IGNORECASE)


class Series(msgspec.Struct, frozen=True):
    """One series of a query answer: rows of ``values`` under ``columns`` (``time`` first for SELECTs)."""

    name: str = ""
    tags: dict[str, str] = msgspec.field(default_factory=dict)
    columns: list[str] = msgspec.field(default_factory=list)
    values: list[list[JsonScalar]] = msgspec.field(default_factory=list)

    def records(self) -> list[dict[str, JsonScalar]]:
        """The rows as ``{column: value}`` dicts."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.values]


class _StatementResult(msgspec.Struct):
    statement_id: int = 0
    series: list[Series] = msgspec.field(default_factory=list)
    error: str | None = None


class _QueryAnswer(msgspec.Struct):
    results: list[_StatementResult] = msgspec.field(default_factory=list)
    error: str | None = None


def quote_identifier(name: str) -> str:
    """An InfluxQL double-quoted identifier (database, measurement, tag or field name)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@contextlib.contextmanager
def map_httpx_exceptions() -> Iterator[None]:
    """Translate httpx's transport exceptions into the adapter's hierarchy (the only place that does)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise InfluxUnavailable(f"InfluxDB did not answer in time: {type(exc).__name__}: {exc}") from exc
    except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as exc:
        raise InfluxUnavailable(f"cannot reach InfluxDB: {type(exc).__name__}: {exc}") from exc
    except httpx.TransportError as exc:  # UnsupportedProtocol, LocalProtocolError: a configuration problem
        raise InfluxError(f"cannot send the request to InfluxDB: {type(exc).__name__}: {exc}") from exc
    except httpx.InvalidURL as exc:
        raise InfluxError(f"invalid InfluxDB URL: {exc}") from exc


def raise_for_answer(response: httpx.Response) -> None:
    """Raise the error class that says what to do about a non-2xx answer to a query (writes: only 204 will do, see
    :func:`smartcity.influx.write_answers.raise_for_write_answer`)."""
    status = response.status_code
    if 200 <= status < 300:
        return
    text = error_text(response)
    where = f"{response.request.method} {response.request.url.path}"
    if status == 400:
        raise InfluxRejected(text, status=status)
    if status in (401, 403):
        raise InfluxAuthError(f"{where}: {status} {text}", status=status)
    if status == 413:
        raise InfluxTooLarge(f"{where}: request body too large: {text}", status=status)
    # 404 means "database not found" (or a wrong URL prefix): fixable without changing the data, so the
    # data is kept (retried and spooled) rather than dead-lettered.
    if status in (404, 429) or status >= 500:
        raise InfluxUnavailable(f"{where}: {status} {text}", status=status, retry_after_s=retry_after(response))
    raise InfluxError(f"{where}: unexpected answer {status} {text}", status=status)


def _check_precision(name: str, value: str) -> None:
    if value not in PRECISIONS:
        raise ValueError(f"{name} must be one of {sorted(PRECISIONS)}, not {value!r}")


class InfluxClient:
    """Write line protocol and run InfluxQL against ``settings.database``.

    ``transport`` replaces the network (``httpx.MockTransport`` in unit tests). Authentication: a token
    (``Authorization: Token ...``, InfluxDB 2.x/3.x) when set, else basic auth when a username is set.
    """

    def __init__(self, settings: InfluxSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        headers = {"User-Agent": "smartcity-influx"}
        auth: httpx.BasicAuth | None = None
        if settings.token is not None:
            headers["Authorization"] = f"Token {settings.token.get_secret_value()}"
        elif settings.username is not None:
            password = settings.password.get_secret_value() if settings.password else ""
            auth = httpx.BasicAuth(settings.username, password)
        self._http = httpx.AsyncClient(
            base_url=settings.url,
            headers=headers,
            auth=auth,
            timeout=settings.timeout_s,
            transport=transport,
            # Settings are the only configuration: no proxy variables or .netrc from the environment.
            trust_env=False,
        )

    async def __aenter__(self) -> Self:
        await self._http.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._http.__aexit__(exc_type, exc, tb)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def ping(self) -> bool:
        """True when the server answers ``/ping`` with 2xx; False when it is unreachable or unwell."""
        try:
            with map_httpx_exceptions():
                response = await self._http.get("/ping")
        except InfluxUnavailable as exc:
            log.debug("ping failed: %s", exc)
            return False
        return response.is_success

    async def write(self, body: bytes, *, precision: str = "ms") -> None:
        """Write line protocol (points separated by ``\\n``). Returns when InfluxDB answered 204: the points
        are durable (in its write-ahead log). Any other answer raises: a refusal as a classified
        :class:`InfluxRejected`, a 2xx that is not 204 as :class:`InfluxNotDurable` (see
        :mod:`smartcity.influx.write_answers`)."""
        _check_precision("precision", precision)
        if not body:
            return
        params = {"db": self.settings.database, "precision": precision}
        if self.settings.retention_policy:
            params["rp"] = self.settings.retention_policy
        with map_httpx_exceptions():
            response = await self._http.post(
                "/write", params=params, content=body, headers={"Content-Type": "text/plain; charset=utf-8"}
            )
        raise_for_write_answer(response)

    async def query(self, q: str, params: Mapping[str, ParamValue] | None = None, *, epoch: str = "ms") -> list[Series]:
        """Run InfluxQL; values go in ``params`` (``WHERE "district" = $d`` with ``{"d": "north"}``), never into
        the text. Returns the series of every statement in order; a failed statement raises
        :class:`InfluxQueryError`, a query InfluxDB cannot parse :class:`InfluxRejected`."""
        _check_precision("epoch", epoch)
        arguments = {"q": q, "db": self.settings.database, "epoch": epoch}
        if self.settings.retention_policy:
            arguments["rp"] = self.settings.retention_policy
        if params:
            arguments["params"] = _encode_params(params)
        read_only = _READ_ONLY.match(q) is not None and _WRITE_HINTS.search(q) is None
        with map_httpx_exceptions():
            if read_only:
                response = await self._http.get("/query", params=arguments)
            else:
                response = await self._http.post("/query", data=arguments)
        raise_for_answer(response)
        try:
            answer = msgspec.json.decode(response.content, type=_QueryAnswer)
        except msgspec.DecodeError as exc:
            raise InfluxError(f"unexpected query answer from InfluxDB: {exc}", status=response.status_code) from exc
        if answer.error is not None:
            raise InfluxQueryError(answer.error, status=response.status_code)
        failed = [result.error for result in answer.results if result.error is not None]
        if failed:
            raise InfluxQueryError("; ".join(failed), status=response.status_code)
        return [series for result in answer.results for series in result.series]

    async def create_database(self) -> None:
        """``CREATE DATABASE`` for the settings' database (a no-op when it exists)."""
        await self.query(f"CREATE DATABASE {quote_identifier(self.settings.database)}")

    async def drop_database(self) -> None:
        """``DROP DATABASE`` for the settings' database, with all its data (a no-op when it does not exist)."""
        await self.query(f"DROP DATABASE {quote_identifier(self.settings.database)}")


def _encode_params(params: Mapping[str, ParamValue]) -> str:
    for key, value in params.items():
        if not isinstance(value, str | int | float | bool):
            raise TypeError(f"bind parameter {key!r} must be str, int, float or bool, not {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"bind parameter {key!r} is {value}: InfluxQL has no non-finite numbers")
    return json.dumps(dict(params), allow_nan=False)


async def or_missing_database(pending: Awaitable[list[Series]]) -> list[Series] | None:
    """``pending``'s series, or None when the database does not exist yet (InfluxDB answers "database not found":
    nothing has been written, so there is nothing to read)."""
    try:
        return await pending
    except InfluxQueryError as exc:
        if "database not found" in str(exc):
            return None
        raise
