"""A small, deterministic YAML writer for the provisioning files (mappings, lists, strings, numbers, booleans).

Strings are written as JSON strings, which YAML reads as double-quoted scalars, so ``${VAR}`` and ``:`` need no
further thought; the output is stable byte for byte, which the committed-files test relies on.
"""

from __future__ import annotations

import json


def dump(document: object, header: str = "") -> str:
    """``document`` as YAML text, after ``header`` written as ``#`` comment lines."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines += _lines(document, 0)
    return "\n".join(lines) + "\n"


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _lines(node: object, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(node, dict):
        out: list[str] = []
        for key, value in node.items():
            if isinstance(value, dict | list) and value:
                out.append(f"{pad}{key}:")
                out += _lines(value, indent + 2)
            else:
                out.append(f"{pad}{key}: {_empty(value) if isinstance(value, dict | list) else _scalar(value)}")
        return out
    if isinstance(node, list):
        out = []
        for item in node:
            inner = _lines(item, indent + 2)
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}- {inner[0].lstrip()}")
                out += inner[1:]
            else:
                out.append(f"{pad}- {_empty(item) if isinstance(item, dict | list) else _scalar(item)}")
        return out
    return [f"{pad}{_scalar(node)}"]


def _empty(value: dict[object, object] | list[object]) -> str:
    return "{}" if isinstance(value, dict) else "[]"
