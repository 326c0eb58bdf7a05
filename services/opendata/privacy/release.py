"""A published release: every cell of the grid (finest cells and margins) with its treatment, and views of it.

Datasets at a coarser granularity (the day instead of the hour, the city instead of the district) are views of the
same release, never releases of their own: their cells were suppressed together with the finer ones, so no
difference between two granularities can reveal a suppressed value.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from services.opendata.privacy.cells import ReleasedCell, Treatment
from services.opendata.privacy.policy import PrivacyPolicy
from services.opendata.privacy.windows import Window


@dataclass(frozen=True, slots=True)
class Release:
    policy: PrivacyPolicy
    period: Window
    """``[start, end)`` ms of the period released (environmental data: the span of its cells)."""
    cells: tuple[ReleasedCell, ...]
    finest_levels: tuple[str, str, str]
    """Area, kind and window level of the grid's finest cells."""
    audit_rounds: int = 0
    """Rounds of suppression after the audit found a derivable cell (0: the hypercubes sufficed)."""

    def view(self, area_level: str, kind_level: str, window_level: str) -> list[ReleasedCell]:
        """The cells at one granularity (``'city', 'all', '1d'``: the city total per day)."""
        wanted = (area_level, kind_level, window_level)
        return [c for c in self.cells if (c.area_level, c.kind_level, c.window_level) == wanted]

    @property
    def finest(self) -> list[ReleasedCell]:
        """The grid's finest cells (district x kind x window unless the policy's grid is coarser)."""
        return self.view(*self.finest_levels)

    def counts(self, cells: list[ReleasedCell] | None = None) -> Counter[Treatment]:
        return Counter(cell.treatment for cell in (self.finest if cells is None else cells))

    def published_share(self, cells: list[ReleasedCell] | None = None) -> float:
        """Share of the non-empty finest cells (or of ``cells``) whose own value is published."""
        counts = self.counts(cells)
        total = sum(counts.values()) - counts[Treatment.EMPTY]
        return counts[Treatment.PUBLISHED] / total if total else 1.0

    def covered_share(self, cells: list[ReleasedCell] | None = None) -> float:
        """Share of the non-empty finest cells published themselves or merged into a published coarser area."""
        counts = self.counts(cells)
        total = sum(counts.values()) - counts[Treatment.EMPTY]
        return (counts[Treatment.PUBLISHED] + counts[Treatment.MERGED]) / total if total else 1.0
