"""Which department's keys may read which readings: ownership from the city model, open data, and grants.

A reading is a metric measured at a facility of some kind, so it has two owners (``City.departments``): the
department owning the metric and the one owning the facility kind (a school's energy readings are energy's and
education's). A key of department D reads the pair (metric, facility kind) when

1. the pair is open data at the planning API's resolution: an open dataset publishes that metric at that kind per
   sensor, as measured, unsuppressed (the environmental datasets: air quality, noise, weather, flood levels); data
   that is open only hourly or per district (energy, occupancy, car parks) stays its owners' in the planning API;
2. D owns the metric or the facility kind;
3. a live grant to D covers it: from the metric's owner for that metric, or from the kind's owner for that kind
   (a grant without metrics or kinds covers everything its granter owns, at the time of the request).

A key without a department, the city's own, reads everything. A request is answered whole or refused: every pair
its answer would hold must be readable, else 403 ``grant-required`` naming the grants that would allow it. Never a
silently partial answer (a district's mean over the devices a key may read is a wrong figure), and never 404: the
catalogue shows every device and metric to every key, so hiding an existing one would be a lie, unlike a district
outside a key's scope, which the key sees nowhere.

Cost per request: the pairs of a selection are computed once and kept (the city does not change while the process
runs); a department's :class:`Reach` is kept until a grant of the state database changes (one primary-key read,
:meth:`services.api.grants.GrantStore.version`) or the first of its grants expires.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from services.api.catalogue import CityIndex, Selection
from services.api.grants import Grant
from services.api.indicators.definitions import Indicator, Method
from services.api.problems import ApiProblem
from services.opendata.datasets import DATASETS, SpatialGranularity, TemporalGranularity
from smartcity.city.model import City, Device, FacilityKind
from smartcity.contract.metrics import DEVICE_METRICS

Pair = tuple[str, FacilityKind]
"""A metric at facilities of a kind: what ownership, open data and grants are decided on."""

COUNTING_METHODS = frozenset({Method.UPTIME, Method.COMPLETENESS, Method.DELIVERY})
"""Indicators that count readings (whether devices report) without reading their values: no grant needed."""
_MAX_HELD = 50_000
_NEVER = 2**62


class GrantSource(Protocol):
    """Where live grants come from (:class:`services.api.grants.GrantStore`)."""

    def version(self) -> int: ...

    def live_to(self, department: str, now_ms: int) -> list[Grant]: ...


@dataclass(frozen=True, slots=True)
class Reach:
    """What one department's keys may read now."""

    department: str
    metrics: frozenset[str]
    """Owned or granted metrics: readable at facilities of every kind."""
    kinds: frozenset[FacilityKind]
    """Owned or granted facility kinds: every metric measured there is readable."""
    open: frozenset[Pair]

    def allows(self, metric: str, kind: FacilityKind) -> bool:
        return metric in self.metrics or kind in self.kinds or (metric, kind) in self.open


def open_pairs() -> frozenset[Pair]:
    """The pairs open data publishes as the planning API answers them: per sensor, as measured, unsuppressed."""
    return frozenset(
        (metric, kind)
        for dataset in DATASETS.values()
        if dataset.spatial is SpatialGranularity.SENSOR
        and dataset.temporal is TemporalGranularity.AS_MEASURED
        and not dataset.person_related
        for metric in dataset.metrics
        for kind in dataset.facility_kinds
    )


class Ownership:
    """Who owns each metric and facility kind of a city, and what a department reaches with its grants."""

    def __init__(self, city: City) -> None:
        self.departments = {department.id: department for department in city.departments}
        self.metric_owner = {metric: d.id for d in city.departments for metric in d.metrics}
        self.kind_owner = {kind: d.id for d in city.departments for kind in d.facility_kinds}
        self.open = open_pairs()

    def reach(self, department: str, grants: Iterable[Grant]) -> Reach:
        """Owned plus granted; a grant counts only for what its granter owns (the city file may have changed)."""
        own = self.departments.get(department)
        metrics = set(own.metrics) if own is not None else set()
        kinds = set(own.facility_kinds) if own is not None else set()
        for grant in grants:
            if grant.to_department != department:
                continue
            granter = self.departments.get(grant.from_department)
            if granter is None:
                continue
            everything = not grant.metrics and not grant.facility_kinds
            metrics.update(m for m in (granter.metrics if everything else grant.metrics) if m in granter.metrics)
            kinds.update(
                k
                for k in (granter.facility_kinds if everything else grant.facility_kinds)
                if k in granter.facility_kinds
            )
        return Reach(department, frozenset(metrics), frozenset(kinds), self.open)

    def grant_required(self, department: str, missing: Iterable[Pair]) -> ApiProblem:
        """403 naming what ``department`` may not read and the grants (``smartcity api grants add``) that allow it."""
        ordered = sorted(missing)
        parts = []
        for metric, kind in ordered[:3]:
            options = []
            if (owner := self.metric_owner.get(metric)) is not None:
                options.append(f"--from {owner} --to {department} --metrics {metric}")
            if (owner := self.kind_owner.get(kind)) is not None:
                options.append(f"--from {owner} --to {department} --facility-kinds {kind.value}")
            grant = " or ".join(options) or "none: no department owns it, only the city's own keys read it"
            parts.append(f"{metric!r} at {kind.value} facilities (grant: {grant})")
        more = f"; and {len(ordered) - 3} more" if len(ordered) > 3 else ""
        return ApiProblem(
            403,
            "grant-required",
            f"the {department} department may not read {'; '.join(parts)}{more}: that needs a grant "
            "from the department owning it",
        )


class DepartmentAccess:
    """The check routes make before answering readings, with its caches."""

    def __init__(self, index: CityIndex, grants: GrantSource, *, clock: Callable[[], float] = time.time) -> None:
        self.ownership = Ownership(index.city)
        self._index = index
        self._grants = grants
        self._clock = clock
        self._kind_of = {facility.id: facility.kind for facility in index.city.facilities}
        self._pairs: dict[tuple[object, ...], frozenset[Pair]] = {}
        self._reaches: dict[str, tuple[int, int, Reach]] = {}

    @property
    def grants(self) -> GrantSource:
        """Where the grants come from (the state database's :class:`~services.api.grants.GrantStore` in the app)."""
        return self._grants

    def reach(self, department: str) -> Reach:
        """The department's reach now: kept until the grants change or the first of them expires."""
        now_ms = int(self._clock() * 1000)
        version = self._grants.version()
        held = self._reaches.get(department)
        if held is not None and held[0] == version and now_ms < held[1]:
            return held[2]
        grants = self._grants.live_to(department, now_ms)
        reach = self.ownership.reach(department, grants)
        if len(self._reaches) > 10_000:
            self._reaches.clear()
        self._reaches[department] = (version, min((g.expires_ms for g in grants), default=_NEVER), reach)
        return reach

    def missing(self, department: str | None, pairs: Iterable[Pair]) -> list[Pair]:
        """The pairs ``department`` may not read (none for the city's own keys)."""
        if department is None:
            return []
        reach = self.reach(department)
        return [pair for pair in pairs if not reach.allows(*pair)]

    def require(self, department: str | None, pairs: Iterable[Pair]) -> None:
        """403 ``grant-required`` unless ``department`` may read every pair."""
        if department is None:
            return
        missing = self.missing(department, pairs)
        if missing:
            raise self.ownership.grant_required(department, missing)

    def pairs_of(self, devices: Iterable[Device], metric: str | None) -> frozenset[Pair]:
        """The pairs the devices report (only ``metric``, when given)."""
        found: set[Pair] = set()
        for device in devices:
            kind = self._kind_of.get(device.facility_id)
            if kind is None:
                continue
            names = DEVICE_METRICS[device.type]
            if metric is None:
                found.update((name, kind) for name in names)
            elif metric in names:
                found.add((metric, kind))
        return frozenset(found)

    def _held(self, key: tuple[object, ...], build: Callable[[], frozenset[Pair]]) -> frozenset[Pair]:
        pairs = self._pairs.get(key)
        if pairs is None:
            if len(self._pairs) >= _MAX_HELD:
                self._pairs.clear()
            pairs = self._pairs[key] = build()
        return pairs

    def selection_pairs(self, selection: Selection, metric: str | None) -> frozenset[Pair]:
        """What a ``/v1/latest`` or ``/v1/history`` answer for the selection would hold."""
        return self._held(
            ("selection", selection.scope, selection.ident, metric),
            lambda: self.pairs_of(selection.devices, metric),
        )

    def districts_pairs(self, districts: frozenset[str] | None, metric: str | None) -> frozenset[Pair]:
        """What the devices of ``districts`` (None: the whole city) report."""

        def build() -> frozenset[Pair]:
            if districts is None:
                return self.pairs_of(self._index.devices.values(), metric)
            return frozenset().union(*(self.pairs_of(self._index.district_devices(d), metric) for d in districts))

        return self._held(("districts", None if districts is None else tuple(sorted(districts)), metric), build)

    def indicator_pairs(self, indicator: Indicator, kinds: tuple[FacilityKind, ...]) -> frozenset[Pair]:
        """The pairs an indicator over facilities of ``kinds`` reads values of (none for one that only counts
        readings); only pairs some device of the city reports."""
        if indicator.method in COUNTING_METHODS:
            return frozenset()

        def build() -> frozenset[Pair]:
            wanted = set(indicator.metrics)
            return frozenset(
                (metric, kind)
                for metric, kind in self.districts_pairs(None, None)
                if metric in wanted and kind in kinds
            )

        return self._held(("indicator", indicator.name, kinds), build)
