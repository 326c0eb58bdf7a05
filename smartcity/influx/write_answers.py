"""What an answer to ``POST /write`` means, on every InfluxDB generation that serves the v1 write API.

Only 204 means stored. Refusals differ in status and body by generation, so they are classified here, once, into an
:class:`~smartcity.influx.errors.InfluxRejected` that says the same thing for all of them (1.6.7 answers measured;
2.x and 3.x answers from their documentation and issue trackers):

- **1.x** (1.6.7 measured) answers 400 ``{"error": ...}`` and keeps the valid points: ``partial write: field type
  conflict: input field "v" on measurement "m" is type string, already exists as type float dropped=N``,
  ``partial write: points beyond retention policy dropped=N``; lines it cannot parse are named one per text line,
  ``unable to parse 'LINE': why``, wrapped in ``partial write: ... dropped=0`` when the parsable ones were stored.
  One reason hides the others: a batch with a type conflict and old points reports only the conflict.
- **2.x** answers 422 ``{"code": "unprocessable entity", "message": "failure writing points to database: partial
  write: ..."}`` with the 1.x texts for type conflicts and old points (recent 2.7 releases: ``partial write: dropped N
  points outside retention policy of duration ... dropped=N for database: ... for retention policy: ...``) and keeps
  the valid points; unparsable lines are a 400 ``{"code": "invalid", "message": "unable to parse 'LINE': why"}``
  and nothing of the request is stored.
- **3.x** answers 400 ``{"error": "partial write of line protocol occurred", "data": [{"original_line": ...,
  "line_number": 2, "error_message": "invalid column type for column 'v', expected ..."}]}``: every refused line
  (at most 100) with its reason; the others are stored. With partial writes off it answers ``parsing failed for
  write_lp endpoint`` with one ``data`` object, and stores nothing.

InfluxDB 2.0.x answered 500 for points beyond retention (influxdb#20359): a 5xx whose text says ``partial write:``
is a refusal too, or a batch of old points would be retried and spooled forever.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from smartcity.influx.errors import (
    FieldConflict,
    InfluxAuthError,
    InfluxError,
    InfluxNotDurable,
    InfluxRejected,
    InfluxTooLarge,
    InfluxUnavailable,
    RefusedLine,
    RejectKind,
)

V3_LIST_LIMIT = 100
"""InfluxDB 3.x lists at most this many refused lines in one answer."""

_EXCERPT = 200
_WRAPPERS = (
    "failure writing points to database: ",
    "unexpected error writing points to database: ",
    "internal error: ",
)
_PARTIAL = "partial write: "
_PARSE = "unable to parse '"
_DROPPED = re.compile(r"\bdropped=(\d+)")
_TRAILING_DROPPED = re.compile(r" dropped=\d+$")
_CONFLICT = re.compile(
    r'input field "(?P<field>(?:[^"\\]|\\.)*)" on measurement "(?P<measurement>(?:[^"\\]|\\.)*)" '
    r"is type (?P<got>\w+), already exists as type (?P<want>\w+)"
)
_GO_QUOTED = re.compile(r"\\(.)")
_PARSE_HINTS = (
    "unable to parse",
    "parsing",
    "could not parse",
    "no fields",
    "invalid line protocol",
    "malformed",
    "expected ",
    "invalid field format",
    "invalid number",
    "invalid boolean",
    "bad timestamp",
    "missing field",
)


def raise_for_write_answer(response: httpx.Response) -> None:
    """Return when the answer is 204 (stored); otherwise raise the error that says what to do about it."""
    status = response.status_code
    if status == 204:
        return
    where = f"{response.request.method} {response.request.url.path}"
    if 200 <= status < 300:
        raise InfluxNotDurable(
            f"{where} answered {status} ({response.headers.get('Content-Type') or 'no content type'}, "
            f"body {_excerpt(response.text)!r}), not 204: InfluxDB answers 204 once the points are stored. "
            "Something else answers on that URL (a proxy, a wrong path): check the InfluxDB URL; the points are kept",
            status=status,
        )
    message, data = _decode(response)
    if status in (400, 422) or (status >= 500 and _PARTIAL.strip() in message):
        raise classify_refusal(status, message, data)
    if status in (401, 403):
        raise InfluxAuthError(f"{where}: {status} {message}", status=status)
    if status == 413:
        raise InfluxTooLarge(f"{where}: request body too large: {message}", status=status)
    if status in (404, 429) or status >= 500:
        raise InfluxUnavailable(f"{where}: {status} {message}", status=status, retry_after_s=retry_after(response))
    raise InfluxError(f"{where}: unexpected answer {status} {message}", status=status)


def classify_refusal(status: int, message: str, data: Any = None) -> InfluxRejected:
    """The :class:`InfluxRejected` for a refusal whose text is ``message`` (the body's ``error`` or ``message``)
    and whose 3.x ``data`` (list or object of refused lines) is ``data``."""
    if isinstance(data, list | dict) and data:
        entries = data if isinstance(data, list) else [data]
        refused = tuple(line for line in (_v3_line(entry) for entry in entries) if line is not None)
        if refused:
            # A list: "partial write of line protocol occurred", the other lines are stored. One object: partial
            # writes are off (accept_partial=false), nothing is stored.
            listed_all = isinstance(data, list) and len(data) < V3_LIST_LIMIT
            return InfluxRejected(
                message,
                status=status,
                kind=refused[0].kind,
                dropped=len(refused) if listed_all else None,
                partial=isinstance(data, list),
                refused=refused,
                complete=listed_all,
            )
    core = message.strip()
    for wrapper in _WRAPPERS:
        core = core.removeprefix(wrapper)
    partial = core.startswith(_PARTIAL) or status == 422 or None
    core = core.removeprefix(_PARTIAL)
    if core.startswith(_PARSE):
        # Every line that did not parse is named, one per line of the text (1.x keeps the parsable ones and wraps
        # the list in "partial write: ... dropped=0"; without the wrapper nothing was stored).
        refused = tuple(_v1_parse_line(part) for part in _TRAILING_DROPPED.sub("", core).split("\n"))
        return InfluxRejected(
            message,
            status=status,
            kind=RejectKind.PARSE_ERROR,
            dropped=len(refused),
            partial=partial or False,
            refused=refused,
            complete=True,
        )
    counts = _DROPPED.findall(core)
    conflict = _CONFLICT.search(core)
    return InfluxRejected(
        message,
        status=status,
        kind=kind_of(core),
        dropped=int(counts[-1]) if counts else None,
        partial=partial,
        conflict=None if conflict is None else _field_conflict(conflict),
    )


def _field_conflict(match: re.Match[str]) -> FieldConflict:
    # InfluxDB prints the names Go-quoted (%q): a backslash escapes the next character.
    return FieldConflict(
        measurement=_GO_QUOTED.sub(r"\1", match["measurement"]),
        field=_GO_QUOTED.sub(r"\1", match["field"]),
        got=match["got"],
        want=match["want"],
    )


def kind_of(text: str) -> RejectKind:
    """The kind of refusal a server's text describes."""
    lowered = text.lower()
    if lowered.startswith("unable to parse"):
        return RejectKind.PARSE_ERROR
    if "type conflict" in lowered or "invalid column type" in lowered:
        return RejectKind.FIELD_TYPE_CONFLICT
    if "retention" in lowered:
        return RejectKind.BEYOND_RETENTION
    if any(hint in lowered for hint in _PARSE_HINTS):
        return RejectKind.PARSE_ERROR
    return RejectKind.OTHER


def retry_after(response: httpx.Response) -> float | None:
    """The answer's ``Retry-After`` in seconds, when it is a usable number."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return seconds if 0 <= seconds < float("inf") else None


def error_text(response: httpx.Response) -> str:
    """The error text of an answer: the JSON ``error`` (1.x, 3.x) or ``message`` (2.x), else the body's start."""
    return _decode(response)[0]


def _decode(response: httpx.Response) -> tuple[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return _excerpt(response.text, 1000) or response.reason_phrase, None
    if isinstance(body, dict):
        for key in ("error", "message"):
            if isinstance(body.get(key), str):
                return str(body[key]), body.get("data")
    return _excerpt(response.text, 1000), None


def _v3_line(entry: object) -> RefusedLine | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("error_message"), str):
        return None
    number = entry.get("line_number")
    text = entry.get("original_line")
    reason = str(entry["error_message"])
    return RefusedLine(
        text=text if isinstance(text, str) else "",
        reason=reason,
        kind=kind_of(reason),
        number=number if isinstance(number, int) and not isinstance(number, bool) and number > 0 else None,
    )


def _v1_parse_line(part: str) -> RefusedLine:
    # "unable to parse 'LINE': why". The line may itself hold "': " (in a string field); the reason rarely does.
    body = part.removeprefix(_PARSE)
    cut = body.rfind("': ")
    if cut < 0:
        return RefusedLine(text=body.removesuffix("'"), reason=part, kind=RejectKind.PARSE_ERROR)
    return RefusedLine(text=body[:cut], reason=part, kind=RejectKind.PARSE_ERROR)


def _excerpt(text: str, limit: int = _EXCERPT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
