"""Robust statistics for the detectors: medians, the median absolute deviation, Theil-Sen slopes."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

MAD_TO_SIGMA = 1.4826
"""MAD times this estimates the standard deviation of normal data."""


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def mad(values: Sequence[float], centre: float | None = None) -> float:
    """Median absolute deviation from ``centre`` (the median by default)."""
    mid = median(values) if centre is None else centre
    return median([abs(value - mid) for value in values])


def robust_scale(values: Sequence[float], floor: float) -> float:
    """A standard-deviation estimate from the MAD, never below ``floor`` (a flat series has a MAD of 0)."""
    return max(MAD_TO_SIGMA * mad(values), floor)


def theil_sen(points: Sequence[tuple[int, float]]) -> float:
    """The median of pairwise slopes (value per ms) of ``(ts_ms, value)`` points; 0 with fewer than two times."""
    slopes = [
        (v2 - v1) / (t2 - t1) for index, (t1, v1) in enumerate(points) for t2, v2 in points[index + 1 :] if t2 != t1
    ]
    return median(slopes) if slopes else 0.0
