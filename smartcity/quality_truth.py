"""The ground truth of injected faults, shared by the simulator (which writes it), the quality worker's flag kinds
and the scorer (which compares flags with it).

A truth record is one JSON object per line::

    {"device": "aq-000001", "kind": "stuck", "start": 1764547200000, "end": 1764633600000,
     "metric": "no2", "detail": "..."}

``start`` and ``end`` are simulated time in ms (``end`` null while the fault lasts to the end of the run).
"""

from __future__ import annotations

import enum
from typing import TypedDict


class FaultKind(enum.StrEnum):
    """A fault the simulator injects and the quality worker detects."""

    OFFLINE = "offline"
    STUCK = "stuck"
    SPIKE = "spike"
    DRIFT = "drift"
    SKEW = "skew"
    BATTERY = "battery"


class TruthRecord(TypedDict):
    """One injected fault (module docstring)."""

    device: str
    kind: str
    start: int
    end: int | None
    metric: str | None
    detail: str
