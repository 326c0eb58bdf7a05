"""Settling a refusal: which points InfluxDB refused for good, and what must be written again to find out the rest.

A refused write tells something about its points, by generation (see :mod:`smartcity.influx.write_answers`). The
rules, in order, each using as much of the answer as it gives:

1. the answer names the refused lines (unparsable lines on 1.x/2.x, every refusal on 3.x): those are refused; the
   others are durable when the server kept them and named every refused line, else they are written again;
2. the answer says every point was dropped (``dropped`` equals the points sent, e.g. a batch of old readings beyond
   the retention policy): all are refused at once;
3. some points are beyond retention: the ``dropped`` oldest are written apart from the rest (InfluxDB drops the
   points older than a cut-off);
4. a type conflict names a field: the points that carry that field with the refused type are written apart;
5. otherwise the batch is bisected: the answer does not say which points failed.

Rules 3 and 4 are guesses that the next answers check: every part to write again is smaller than the batch, so
settling always ends, and a wrong guess only costs writes. Writing a point again is idempotent because every point's
timestamp comes from the device.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from smartcity.influx.errors import FieldConflict, InfluxRejected, RefusedLine, RejectKind
from smartcity.influx.lineprotocol import LineProtocolError, escape_key, escape_measurement


@dataclass(frozen=True, slots=True)
class Part:
    """Lines and their topics, still to be written."""

    lines: list[str]
    topics: list[str]
    guided: bool = False
    """Cut out by a retention guess (rule 3): when it is refused for retention again, the guess was wrong (an
    unparsable line, uncounted, sorted among the old ones), so it is bisected in time order instead."""

    def pick(self, indexes: list[int], *, guided: bool | None = None) -> Part:
        return Part(
            [self.lines[i] for i in indexes],
            [self.topics[i] for i in indexes],
            self.guided if guided is None else guided,
        )

    def halves(self, order: list[int] | None = None) -> list[Part]:
        """The two halves, in ``order`` (indexes) when given."""
        order = list(range(len(self.lines))) if order is None else order
        middle = len(order) // 2
        return [self.pick(order[:middle]), self.pick(order[middle:])]


_BOOLEANS = frozenset({"t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"})


@dataclass(frozen=True, slots=True)
class StoreRejection:
    """A point InfluxDB refused for good, with its answer."""

    line: str
    topic: str
    message: str
    """InfluxDB's words about this point (or about the batch, when the answer was about all of it)."""
    kind: RejectKind = RejectKind.OTHER


def settle(part: Part, refusal: InfluxRejected) -> tuple[list[StoreRejection], list[Part]]:
    """What a refusal of ``part`` settles: the points refused for good, and the parts still to be written (each
    smaller than ``part``)."""
    lines, topics = part.lines, part.topics
    named = _named(lines, refusal)
    if named:
        settled = [StoreRejection(lines[i], topics[i], line.reason, line.kind) for i, line in sorted(named.items())]
        if refusal.partial and refusal.complete:
            return settled, []  # the server stored every other line
        rest = [i for i in range(len(lines)) if i not in named]
        return settled, [part.pick(rest)] if rest else []
    if len(lines) == 1 or (refusal.dropped is not None and refusal.dropped >= len(lines)):
        # A batch-wide refusal: every point was dropped, for the reason the answer gives.
        every = zip(lines, topics, strict=True)
        return [StoreRejection(line, topic, refusal.message, refusal.kind) for line, topic in every], []
    if refusal.kind is RejectKind.BEYOND_RETENTION and refusal.dropped:
        order = _oldest_first(lines)
        if part.guided:
            return [], part.halves(order)
        return [], [part.pick(order[: refusal.dropped], guided=True), part.pick(order[refusal.dropped :], guided=True)]
    if refusal.conflict is not None:
        suspects = _carrying(lines, refusal.conflict)
        if suspects and len(suspects) < len(lines):
            chosen = set(suspects)
            return [], [part.pick(suspects), part.pick([i for i in range(len(lines)) if i not in chosen])]
    return [], part.halves()


def _named(lines: list[str], refusal: InfluxRejected) -> dict[int, RefusedLine] | None:
    """Index in ``lines`` of every line the answer names, or None when it names none or one that is not there."""
    if not refusal.refused:
        return None
    by_text: dict[str, list[int]] | None = None
    named: dict[int, RefusedLine] = {}
    for line in refusal.refused:
        number = line.number
        # InfluxDB 3.x may cut the line it quotes; without a quote the line number speaks alone.
        if number is not None and number <= len(lines) and lines[number - 1].startswith(line.text):
            named[number - 1] = line
            continue
        if by_text is None:
            by_text = defaultdict(list)
            for index, text in enumerate(lines):
                by_text[text].append(index)
        found = by_text.get(line.text)
        if not found:
            return None
        named.update(dict.fromkeys(found, line))
    return named


def _oldest_first(lines: list[str]) -> list[int]:
    """Indexes of ``lines`` by timestamp, oldest first; a line without an integer timestamp counts as newest (it is
    not a point InfluxDB would count as beyond retention)."""

    def stamp(index: int) -> tuple[int, int]:
        try:
            return 0, int(lines[index].rsplit(" ", 1)[1])
        except (IndexError, ValueError):
            return 1, 0

    return sorted(range(len(lines)), key=stamp)


def _carrying(lines: list[str], conflict: FieldConflict) -> list[int] | None:
    """Indexes of the lines of the conflict's measurement whose field has the refused type (a guess: a tag of the
    same name, or a string field that contains the key, may make it include a line too many)."""
    try:
        head, key = escape_measurement(conflict.measurement), escape_key(conflict.field) + "="
    except LineProtocolError:
        return None
    found = []
    for index, line in enumerate(lines):
        if not line.startswith(head) or line[len(head) : len(head) + 1] not in (",", " "):
            continue
        at = _field_at(line, key, len(head))
        if at >= 0 and _type_at(line, at) == conflict.got:
            found.append(index)
    return found


def _field_at(line: str, key: str, start: int) -> int:
    """Where the value of field ``key`` starts in ``line``, or -1."""
    for separator in (" ", ","):
        at = line.find(separator + key, start)
        while at >= 0:
            if at == 0 or line[at - 1] != "\\":
                return at + len(separator) + len(key)
            at = line.find(separator + key, at + 1)
    return -1


def _type_at(line: str, at: int) -> str:
    if line.startswith('"', at):
        return "string"
    end = len(line)
    for delimiter in (",", " "):
        found = line.find(delimiter, at)
        if 0 <= found < end:
            end = found
    token = line[at:end]
    if token in _BOOLEANS:
        return "boolean"
    if token.endswith("i"):
        return "integer"
    if token.endswith("u"):
        return "unsigned"
    return "float"
