"""City files: load, validate and write them.

A city file is JSON (one element per line when written by :func:`dump_city`). Loading validates it twice: the
model (types, ranges, slugs, unknown fields) and the cross-references (ids, districts, address plan, radios).
Every problem names the path of the bad element, e.g. ``devices[12] (pb-000013).facility_id: unknown facility
'cp-0099'``, and all problems are raised together as one :class:`CityFileError`.
"""

from __future__ import annotations

import gc
import json
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from smartcity.city.checks import cross_reference_problems
from smartcity.city.model import City

MAX_PROBLEMS = 50
"""Problems listed in one error; the rest are counted."""


class CityFileError(ValueError):
    """A city file that cannot be used: unreadable, not JSON, or invalid. ``problems`` lists every finding."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(self.render())

    def render(self, limit: int = MAX_PROBLEMS) -> str:
        count = len(self.problems)
        head = f"{self.source}: {count} problem{'s' if count != 1 else ''}"
        lines = [f"  - {problem}" for problem in self.problems[:limit]]
        if count > limit:
            lines.append(f"  ... and {count - limit} more")
        return "\n".join([head + ":", *lines])


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a city is built. Hundreds of thousands of new objects trigger
    repeated full collections that rescan everything allocated so far: that tripled the load time of a
    100,000-device city. Nothing built here forms reference cycles, so nothing is left for the collector."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_city(path: Path) -> City:
    """Read, parse and validate a city file. Raises :class:`FileNotFoundError` when it does not exist and
    :class:`CityFileError` (naming every bad element) when it cannot be used."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CityFileError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from None
    return parse_city(data, source=str(path))


def parse_city(data: bytes, *, source: str = "city") -> City:
    """Parse and validate the bytes of a city file (fast path: pydantic-core parses the JSON directly)."""
    try:
        with gc_paused():
            city = City.model_validate_json(data)
    except ValidationError as exc:
        raise CityFileError(source, _translate(exc, data)) from None
    validate_city(city, source=source)
    return city


def validate_city(city: City, *, source: str = "city") -> None:
    """Check what the model alone cannot: cross-references, the address plan, radio profiles, polygons."""
    problems = cross_reference_problems(city)
    if problems:
        raise CityFileError(source, problems)


_LISTS = ("departments", "districts", "facilities", "devices")


def dump_city(city: City) -> bytes:
    """The city as JSON (fields in model order), one department, district, facility or device per line:
    diffable, and the same city gives the same bytes."""
    head = city.model_dump(mode="json", exclude=set(_LISTS))
    members = []
    for key in City.model_fields:
        if key not in _LISTS:
            members.append(f"  {json.dumps(key)}: {json.dumps(head[key], ensure_ascii=False)}")
            continue
        items: list[BaseModel] = getattr(city, key)
        body = ",\n".join(f"    {item.model_dump_json()}" for item in items)
        members.append(f'  "{key}": [\n{body}\n  ]' if items else f'  "{key}": []')
    return ("{\n" + ",\n".join(members) + "\n}\n").encode()


# -- pydantic errors -> messages a city engineer can act on ---------------------------------------------------

_SLUG_HINT = "must be a lower-case slug (a-z, 0-9, words joined by single hyphens) such as 'old-town' or 'pb-000013'"


def _raw(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that holds the element at ``loc`` (for listing the allowed fields)."""
    model: type[BaseModel] = City
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        inner = (typing.get_args(annotation) or (annotation,))[0] if typing.get_origin(annotation) else annotation
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            return None
        model = inner
    return model


def _path(loc: tuple[int | str, ...], raw: Any) -> str:
    out = ""
    node = raw
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                out += f" ({node['id']})"
        else:
            out += f".{part}" if out else part
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(top level)"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(error: Any) -> str:
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = f" (allowed: {', '.join(model.model_fields)})" if model else ""
        return f"unknown field{allowed}"
    if kind == "string_pattern_mismatch":
        return f"{_SLUG_HINT}; got {_shown(value)}"
    return f"{error['msg'][0].lower()}{error['msg'][1:]}; got {_shown(value)}"


def _translate(exc: ValidationError, data: bytes) -> list[str]:
    errors = exc.errors(include_url=False)
    if any(e["type"] == "json_invalid" for e in errors):
        return [f"not valid JSON: {e['msg'].removeprefix('Invalid JSON: ')}" for e in errors]
    raw = _raw(data)
    return [f"{_path(tuple(e['loc']), raw)}: {_message(e)}" for e in errors]
