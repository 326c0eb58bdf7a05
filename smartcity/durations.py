"""Durations as people type them on a command line (``90s``, ``10m``, ``1.5h``, ``1d``): the simulator's
``--duration`` and ``--backfill``, and ``smartcity up``'s back-fill."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> float:
    """``"90"``, ``"90s"``, ``"10m"``, ``"1.5h"``, ``"7d"``, ``"2w"`` -> seconds. Raises ValueError naming the input."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration: use a number with an optional unit ms, s, m, h, d or w")
    return float(match.group(1)) * _UNIT_S[match.group(2) or "s"]
