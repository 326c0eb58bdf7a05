"""What can go wrong when talking to InfluxDB, sorted by what the caller should do about it.

Exception hierarchy::

    InfluxError
    ├── InfluxUnavailable    retry with backoff, then spool: 5xx, 429, timeouts, connection errors, and 404
    │                        ("database not found": fixed by creating it, not by changing the data)
    ├── InfluxNotDurable     a write answered 2xx but not 204 (a proxy, a wrong URL): the points may not be stored;
    │                        a configuration problem, the data is fine: retry, then spool
    ├── InfluxRejected       never retry the same data: a 400 or 422 refusal (on any InfluxDB generation), classified
    │                        by its body into a :class:`RejectKind`, with ``dropped``, ``partial`` and ``refused``
    ├── InfluxTooLarge       the request body is over the server's limit (413): split the batch
    ├── InfluxAuthError      bad or missing credentials (401/403): retrying will not help
    └── InfluxQueryError     the query ran but a statement failed (an ``error`` inside a 200 result)

:func:`smartcity.influx.client.map_httpx_exceptions` is the one place where httpx's exceptions become these;
:mod:`smartcity.influx.write_answers` is the one place where ``/write`` answers do.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


class InfluxNotDurable(InfluxError):
    """A write was answered with a 2xx other than 204. Only 204 is InfluxDB's promise that the points are stored
    (every generation answers a stored write with 204 and no body); a 200 with a body comes from something else on
    that URL (a proxy, a login page, a wrong path). The data is fine, so it is kept: retried, then spooled."""


class RejectKind(StrEnum):
    """Why InfluxDB refused points, as far as its answer says."""

    FIELD_TYPE_CONFLICT = "field-type-conflict"
    """A field already has another type in this shard/table (float vs integer vs string vs boolean)."""
    BEYOND_RETENTION = "beyond-retention"
    """The point is older than the retention policy (1.x), the bucket's retention (2.x) or the database's (3.x)."""
    PARSE_ERROR = "parse-error"
    """The line is not valid line protocol (or holds a value InfluxDB cannot store, such as NaN)."""
    OTHER = "other"
    """Anything else: a series or tag-value limit, an answer that does not say."""


@dataclass(frozen=True, slots=True)
class RefusedLine:
    """One line the answer names as refused."""

    text: str
    """The line as the server quoted it (InfluxDB 3.x may cut long lines)."""
    reason: str
    """The server's words about this line."""
    kind: RejectKind
    number: int | None = None
    """1-based position of the line in the request body, when the server gives it (3.x)."""


@dataclass(frozen=True, slots=True)
class FieldConflict:
    """The field a type conflict names (1.x and 2.x name the first conflicting field of a batch)."""

    measurement: str
    field: str
    got: str
    """The type the refused points have (``float``, ``integer``, ``unsigned``, ``string``, ``boolean``)."""
    want: str
    """The type the field already has."""


class InfluxRejected(InfluxError):
    """The server refused data for good (400, 422): sending the same data again cannot help.

    For a write the answer is classified (see :mod:`smartcity.influx.write_answers`):

    - :attr:`kind`: why (of the first refused point when the answer lists several reasons);
    - :attr:`dropped`: how many points the server says it dropped, None when it does not say;
    - :attr:`partial`: True when the server kept the valid points of the request (1.x ``partial write``, 2.x 422,
      3.x ``partial write of line protocol occurred``), False when it stored none of them (a 2.x parse error, a 1.x
      batch with no parsable line), None when the answer does not tell;
    - :attr:`refused`: the lines the answer names; :attr:`complete` is True when it names every refused line;
    - :attr:`conflict`: for a type conflict on 1.x/2.x, the field it names.

    A query that InfluxDB cannot parse is an InfluxRejected too (kind ``other``, nothing else set).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        kind: RejectKind = RejectKind.OTHER,
        dropped: int | None = None,
        partial: bool | None = None,
        refused: tuple[RefusedLine, ...] = (),
        complete: bool = False,
        conflict: FieldConflict | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.kind = kind
        self.dropped = dropped
        self.partial = partial
        self.refused = refused
        self.complete = complete
        self.conflict = conflict


class InfluxTooLarge(InfluxError):
    """The request body is larger than the server accepts (413)."""


class InfluxAuthError(InfluxError):
    """Authentication or authorisation failed (401/403)."""


class InfluxQueryError(InfluxError):
    """A statement failed inside an otherwise successful (200) query answer; :attr:`message` is InfluxDB's."""
