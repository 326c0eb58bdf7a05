"""The default release of people present in the city's buildings (docs/PRIVACY.md, "The default grid").

Schools and libraries (education) and hospitals and nursing homes (care) are released as two kind groups, per hour
of a local day, with k = 3 facilities and a threshold of 10 people. The area level follows the city model, never
the data or the caller: the districts when at least half of the district x group cells that hold a facility hold
k of them, else the whole city (a small city has too few hospitals and care homes per district for anything at
district level to pass the k rule; the demo city of ``smartcity up`` is such a city).
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

from services.opendata.privacy.policy import CITY_LEVEL, DISTRICT_LEVEL, PrivacyPolicy, Span
from smartcity.city.model import City, FacilityKind

OCCUPANCY_GROUPS: dict[str, tuple[FacilityKind, ...]] = {
    "education": (FacilityKind.SCHOOL, FacilityKind.LIBRARY),
    "care": (FacilityKind.HOSPITAL, FacilityKind.NURSING_HOME),
}
"""Kind groups of the occupancy release."""

OCCUPANCY_KINDS = tuple(kind for kinds in OCCUPANCY_GROUPS.values() for kind in kinds)
"""Facility kinds whose occupancy counts people (car parks count vehicles and are published per facility)."""

K = 3
THRESHOLD = Fraction(10)


def occupancy_area_level(city: City, k: int = K) -> str:
    """'district' when at least half of the district x group cells holding a facility hold ``k`` or more, else
    'city'."""
    group_of = {kind: group for group, kinds in OCCUPANCY_GROUPS.items() for kind in kinds}
    counts = Counter((f.district_id, group_of[f.kind]) for f in city.facilities if f.kind in group_of)
    if not counts:
        return CITY_LEVEL
    passing = sum(1 for count in counts.values() if count >= k)
    return DISTRICT_LEVEL if 2 * passing >= len(counts) else CITY_LEVEL


def occupancy_policy(city: City) -> PrivacyPolicy:
    """The default privacy policy of the occupancy release of ``city``."""
    return PrivacyPolicy(
        timezone=city.timezone,
        kinds=OCCUPANCY_KINDS,
        kind_groups=dict(OCCUPANCY_GROUPS),
        finest_area=occupancy_area_level(city),
        window=Span.HOUR,
        period=Span.DAY,
        k=K,
        threshold=THRESHOLD,
    )
