"""What can go wrong when talking to InfluxDB, sorted by what the caller should do about it.

Exception hierarchy::

    InfluxError
    ├── InfluxUnavailable    retry with backoff, then spool: 5xx, 429, timeouts, connection errors, and 404
    │                        ("database not found": fixed by creating it, not by changing the data)
    ├── InfluxRejected       never retry the same data (400); ``message`` is InfluxDB's own text,
    │                        e.g. "partial write: field type conflict ... dropped=1"
    ├── InfluxTooLarge       the request body is over the server's limit (413): split the batch
    ├── InfluxAuthError      bad or missing credentials (401/403): retrying will not help
    └── InfluxQueryError     the query ran but a statement failed (an ``error`` inside a 200 result)

:func:`smartcity.influx.client.map_httpx_exceptions` is the one place where httpx's exceptions become these.
"""

from __future__ import annotations


class InfluxError(Exception):
    """Base class of everything the InfluxDB adapter raises."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        """HTTP status code of the answer, or None when there was no answer (timeout, connection error)."""


class InfluxUnavailable(InfluxError):
    """The server did not take the request now (5xx, 429, 404, timeout, connection refused or reset): retryable."""

    retry_after_s: float | None

    def __init__(self, message: str, *, status: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after_s = retry_after_s
        """The server's ``Retry-After`` in seconds, when it sent one (429/503)."""


class InfluxRejected(InfluxError):
    """The server refused the data (400). For a write, InfluxDB 1.x has kept the valid points of the batch
    ("partial write") and names the rejected ones in :attr:`message`; sending the batch again cannot help."""


class InfluxTooLarge(InfluxError):
    """The request body is larger than the server accepts (413)."""


class InfluxAuthError(InfluxError):
    """Authentication or authorisation failed (401/403)."""


class InfluxQueryError(InfluxError):
    """A statement failed inside an otherwise successful (200) query answer; :attr:`message` is InfluxDB's."""
