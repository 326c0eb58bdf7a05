"""An in-memory InfluxDB that answers ``/write`` the way each generation does (for unit tests of the client's
classification and of the gateway's writer): an ``httpx.MockTransport`` handler that keeps the valid points, refuses
the others with the generation's status and body, and counts every request.

It models what matters for refusals, measured on 1.6.7 and documented for 2.x and 3.x: a field's type is fixed per
measurement, points older than ``cutoff_ms`` are beyond retention, lines that do not parse are named. InfluxDB 1.x
reports one reason per answer (a type conflict hides old points and unparsable lines), 2.x refuses a whole request
with an unparsable line, 3.x lists every refused line (at most 100).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

import httpx

Generation = Literal["1.x", "2.x", "3.x"]
V3_LIST_LIMIT = 100


@dataclass
class _Line:
    number: int
    text: str
    measurement: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    ts: int = 0
    error: str | None = None


def _type_of(value: str) -> str | None:
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        return "string"
    if value in ("true", "false", "t", "f", "TRUE", "FALSE"):
        return "boolean"
    if value.endswith("i") and value[:-1].lstrip("-").isdigit():
        return "integer"
    try:
        number = float(value)
    except ValueError:
        return None
    return None if number != number or number in (float("inf"), float("-inf")) else "float"


def _parse(number: int, text: str) -> _Line:
    # Enough line protocol for the tests' points: no escaped spaces or commas inside names and values.
    line = _Line(number, text)
    parts = text.split(" ")
    if len(parts) != 3 or not parts[2].lstrip("-").isdigit():
        line.error = "invalid field format" if len(parts) < 3 else "bad timestamp"
        return line
    head, fields, ts = parts
    line.measurement, line.ts = head.split(",", 1)[0], int(ts)
    for pair in fields.split(","):
        key, _, value = pair.partition("=")
        kind = _type_of(value) if key and value else None
        if kind is None:
            line.error = "missing field value" if not value else "invalid number"
            return line
        line.fields[key] = kind
    return line


class InfluxTwin:
    """Answers ``POST /write`` like InfluxDB ``generation``; ``stored`` holds the lines it kept."""

    def __init__(self, generation: Generation, *, cutoff_ms: int = 0) -> None:
        self.generation = generation
        self.cutoff_ms = cutoff_ms
        """Points older than this are beyond the retention policy."""
        self.types: dict[tuple[str, str], str] = {}
        """(measurement, field) -> the type it has in the database."""
        self.stored: list[str] = []
        self.writes = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/write":
            return httpx.Response(404, json={"error": "not found"})
        self.writes += 1
        lines = [_parse(n, text) for n, text in enumerate(request.content.decode().split("\n"), start=1)]
        unparsable = [line for line in lines if line.error]
        if unparsable and self.generation == "2.x":
            return self._answer(400, "invalid", _unable(unparsable))
        conflicts, old, kept = [], [], []
        batch_types: dict[tuple[str, str], str] = {}
        for line in lines:
            if line.error:
                continue
            if line.ts < self.cutoff_ms:
                old.append(line)
                continue
            clash = next((f for f, t in line.fields.items() if self._type(batch_types, line, f) != t), None)
            if clash is not None:
                conflicts.append((line, clash))
                continue
            for name, kind in line.fields.items():
                batch_types.setdefault((line.measurement, name), kind)
            kept.append(line)
        self.types.update(batch_types)
        self.stored += [line.text for line in kept]
        if self.generation == "3.x":
            return self._v3(unparsable, old, conflicts)
        if conflicts:
            line, name = conflicts[0]
            want = self.types[(line.measurement, name)]
            reason = (
                f'field type conflict: input field "{name}" on measurement "{line.measurement}" is type '
                f"{line.fields[name]}, already exists as type {want} dropped={len(conflicts)}"
            )
            return self._partial(reason)
        if old:
            return self._partial(f"points beyond retention policy dropped={len(old)}")
        if unparsable:  # 1.x: the parsable lines were stored
            if not kept:
                return httpx.Response(400, json={"error": _unable(unparsable)})
            return httpx.Response(400, json={"error": f"partial write: {_unable(unparsable)} dropped=0"})
        return httpx.Response(204)

    def _type(self, batch: dict[tuple[str, str], str], line: _Line, name: str) -> str:
        key = (line.measurement, name)
        return self.types.get(key) or batch.get(key) or line.fields[name]

    def _partial(self, reason: str) -> httpx.Response:
        if self.generation == "1.x":
            return httpx.Response(400, json={"error": f"partial write: {reason}"})
        return self._answer(422, "unprocessable entity", f"failure writing points to database: partial write: {reason}")

    def _answer(self, status: int, code: str, message: str) -> httpx.Response:
        return httpx.Response(status, json={"code": code, "message": message})

    def _v3(self, unparsable: list[_Line], old: list[_Line], conflicts: list[tuple[_Line, str]]) -> httpx.Response:
        refused = [(line, f"{line.error}") for line in unparsable]
        refused += [(line, f"data in table {line.measurement} is outside of the retention period") for line in old]
        refused += [
            (
                line,
                f"invalid column type for column '{name}', expected iox::column_type::field::"
                f"{self.types[(line.measurement, name)]}, got iox::column_type::field::{line.fields[name]}",
            )
            for line, name in conflicts
        ]
        if not refused:
            return httpx.Response(204)
        refused.sort(key=lambda entry: entry[0].number)
        data = [
            {"original_line": line.text, "line_number": line.number, "error_message": message}
            for line, message in refused[:V3_LIST_LIMIT]
        ]
        body = json.dumps({"error": "partial write of line protocol occurred", "data": data})
        return httpx.Response(400, content=body, headers={"Content-Type": "application/json"})


def _unable(lines: list[_Line]) -> str:
    return "\n".join(f"unable to parse '{line.text}': {line.error}" for line in lines)
