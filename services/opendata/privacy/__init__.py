"""The privacy engine for person-related open data: fixed releases over a declared grid, with the k rule, a count
threshold, secondary suppression by hypercubes and an exact audit (docs/PRIVACY.md).

Pure and in memory: :func:`publish` takes one period's finest cells and returns the :class:`Release` to publish.
"""

from services.opendata.privacy.cells import InputCell, ReleasedCell, Treatment
from services.opendata.privacy.engine import publish
from services.opendata.privacy.policy import AreaGrouping, PrivacyPolicy, Span, TimeAggregation, environmental_policy
from services.opendata.privacy.release import Release

__all__ = [
    "AreaGrouping",
    "InputCell",
    "PrivacyPolicy",
    "Release",
    "ReleasedCell",
    "Span",
    "TimeAggregation",
    "Treatment",
    "environmental_policy",
    "publish",
]
