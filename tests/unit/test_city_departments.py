"""The default departments: every facility kind and every metric of the registry has exactly one owner."""

from __future__ import annotations

from collections import Counter

from smartcity.city.departments import default_departments
from smartcity.city.model import FacilityKind
from smartcity.contract.metrics import METRICS


def test_every_facility_kind_and_metric_has_one_owner() -> None:
    departments = default_departments()
    kinds = Counter(kind for d in departments for kind in d.facility_kinds)
    metrics = Counter(metric for d in departments for metric in d.metrics)
    assert kinds == Counter(set(FacilityKind))
    assert metrics == Counter(set(METRICS))
    assert len({d.id for d in departments}) == len(departments)


def test_buildings_are_the_indoor_kinds() -> None:
    buildings = {kind for kind in FacilityKind if kind.is_building}
    assert buildings == {
        FacilityKind.SCHOOL,
        FacilityKind.HOSPITAL,
        FacilityKind.NURSING_HOME,
        FacilityKind.LIBRARY,
        FacilityKind.PUBLIC_BUILDING,
    }
