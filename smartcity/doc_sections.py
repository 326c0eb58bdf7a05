"""Generated sections of the docs: a table between two marker comments, rewritten from code (registry, datasets).

Each generator keeps its markers and its ``render()``; a test asserts that the document already holds what
:func:`with_section` would write, so a stale table fails the suite.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path


def with_section(document: str, begin: str, end: str, body: str) -> str:
    """``document`` with ``body`` between its ``begin`` and ``end`` markers (ValueError when one is missing)."""
    head, found_begin, rest = document.partition(begin)
    _, found_end, tail = rest.partition(end)
    if not found_begin or not found_end:
        raise ValueError(f"the document has no {begin} ... {end} section")
    return f"{head}{begin}\n{body}\n{end}{tail}"


def rewrite_main(default: str, updated: Callable[[str], str], argv: list[str] | None = None) -> int:
    """The ``python -m`` entry of a generator: rewrite the document named on the command line (else
    ``default``) in place."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0] if args else default)
    path.write_text(updated(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0
