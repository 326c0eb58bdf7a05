"""A running API takes a changed city file without a restart (:func:`smartcity.city.watch.follow_city`).

The new city replaces the index and the department access checks built on it in one go, between two requests:
devices added to the city are in the catalogue and readable at the next request, removed ones answer 404. Grants
stay (they live in the state database); caches keyed by the city's fingerprint (pages, ETags) start afresh.
"""

from __future__ import annotations

import logging

from services.api.access import DepartmentAccess
from services.api.catalogue import CityIndex
from services.api.deps import ApiState

log = logging.getLogger(__name__)


def reload_city(state: ApiState, index: CityIndex) -> None:
    """Serve the city of ``index`` (built off the event loop: :class:`CityIndex` of the new city) from now on."""
    access = DepartmentAccess(index, state.access.grants)
    state.index, state.access = index, access
    log.info("API serves the changed city: %d districts, %d devices", len(index.districts), len(index.devices))
