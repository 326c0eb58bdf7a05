"""What goes into the privacy engine and what comes out: one release's cells and the treatment of each."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction

Number = int | float | Fraction


class Treatment(enum.StrEnum):
    """What the engine did to a cell; exports state it beside the value (``label`` names the merge target)."""

    PUBLISHED = "published"
    """Value published (rounded as the policy says)."""
    MERGED = "merged"
    """Fewer than k facilities: not published itself, its people are counted in the published cell of a coarser
    area (``merged_into``), together with enough other facilities."""
    SUPPRESSED_PRIMARY = "suppressed-primary"
    """Value below the threshold."""
    SUPPRESSED_SECONDARY = "suppressed-secondary"
    """Value at or above the threshold, suppressed so that no primary or withheld cell can be derived."""
    WITHHELD_K = "withheld-k"
    """Fewer than k facilities and no published coarser area holds it."""
    EMPTY = "empty"
    """No facility of this kind in this area: nothing to publish (value 0, no person)."""


UNPUBLISHED = frozenset(set(Treatment) - {Treatment.PUBLISHED, Treatment.EMPTY})


@dataclass(frozen=True, slots=True)
class InputCell:
    """One finest cell of a release as measured: a district's facilities of one kind in one window."""

    area: str
    """District id (environmental data: the sensor or facility id)."""
    kind: str
    """Facility kind (``FacilityKind`` value)."""
    window_start_ms: int
    value: Number
    """People present (a mean count over the window, summed over the facilities) or counted."""
    facilities: int
    """Facilities that contributed (0: none of this kind in this district, and the value must be 0)."""
    window_end_ms: int | None = None
    """End of the window (only read for environmental data; person-related windows follow from the grid)."""


@dataclass(frozen=True, slots=True)
class ReleasedCell:
    """One cell of a published release: a leaf of the grid or a margin (a total over one or more axes)."""

    area: str
    area_level: str
    kind: str
    kind_level: str
    window_start_ms: int
    window_end_ms: int
    window_level: str
    facilities: int
    """Fewest facilities contributing in any of the cell's finest windows."""
    value: Number | None
    """The published value; None unless ``treatment`` is published or empty."""
    treatment: Treatment
    merged_into: str | None = None
    """Area id of the published coarser cell that holds a merged cell."""

    @property
    def label(self) -> str:
        """The treatment as exports state it: ``published``, ``merged-into-city``, ``suppressed-primary`` ..."""
        if self.treatment is Treatment.MERGED:
            return f"merged-into-{self.merged_into}"
        return self.treatment.value

    @property
    def public_label(self) -> str:
        """The treatment without the reason of a suppression (``suppressed``): what an export that must not say
        which suppressed values lie below the threshold states. The engine's protection holds either way."""
        return "suppressed" if self.treatment in _SUPPRESSED else self.label


_SUPPRESSED = frozenset({Treatment.SUPPRESSED_PRIMARY, Treatment.SUPPRESSED_SECONDARY})
