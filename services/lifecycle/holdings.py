"""What the store holds, named: every open dataset and the platform's own data, with where it lives and how long
it is kept.

A :class:`Holding` is a set of measurements (optionally only the points of some facility kinds, by their
``facility_kind`` tag) in some retention policies. Its retention is either the retention policies' own (None:
each tier keeps it as long as ``SMARTCITY_ROLLUP_POLICY__*`` says, InfluxDB enforces it exactly) or a number of
days that holds in every tier: :func:`expiry_statements` removes older points of the holding with InfluxQL
``DELETE``, which on 1.x acts on every retention policy of the database at once (the raw points and each roll-up
tier), so no tier keeps the dataset longer than its definition says.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from services.opendata.datasets import ALL_KINDS, DATASETS, OpenDataset
from smartcity.city.model import City, Device, FacilityKind
from smartcity.contract.metrics import DEVICE_METRICS, METRICS
from smartcity.influx.client import ParamValue, quote_identifier
from smartcity.influx.schema import DEAD_LETTERS, DEVICE_HEALTH, LATE_WINDOWS, ROLLUP_PROGRESS
from smartcity.quality_flags import QUALITY_FLAG, QUALITY_PROGRESS
from smartcity.rollups import TIERS

RAW = "raw"
"""The database's default retention policy, whatever its name (``autogen`` unless an operator changed it)."""
ROLLUP_POLICIES = tuple(tier.retention_policy for tier in TIERS)


@dataclass(frozen=True, slots=True)
class Holding:
    name: str
    kind: str
    """``open dataset`` or ``platform``."""
    measurement: str
    policies: tuple[str, ...]
    """Where it lives: :data:`RAW` and roll-up policies."""
    facility_kinds: tuple[FacilityKind, ...] = ()
    """Only points at these facility kinds (empty: every point of the measurement)."""
    retention_days: int | None = None
    """None: the retention policies' own; else no point older than this in any of them."""
    metrics: tuple[str, ...] = ()

    def devices(self, city: City) -> list[Device]:
        """The devices that write points of the holding (for the point estimates)."""
        if not self.metrics:
            return []
        kinds = set(self.facility_kinds or ALL_KINDS)
        kind_of = {facility.id: facility.kind for facility in city.facilities}
        return [
            device
            for device in city.devices
            if kind_of.get(device.facility_id) in kinds and set(self.metrics) & set(DEVICE_METRICS[device.type])
        ]


def _of_dataset(dataset: OpenDataset) -> Iterator[Holding]:
    by_measurement: dict[str, list[str]] = {}
    for metric in dataset.metrics:
        by_measurement.setdefault(METRICS[metric].measurement, []).append(metric)
    for measurement, metrics in by_measurement.items():
        yield Holding(
            name=dataset.id,
            kind="open dataset",
            measurement=measurement,
            policies=(RAW, *ROLLUP_POLICIES),
            facility_kinds=() if set(dataset.facility_kinds) == set(ALL_KINDS) else dataset.facility_kinds,
            retention_days=dataset.retention_days,
            metrics=tuple(metrics),
        )


PLATFORM: tuple[Holding, ...] = (
    Holding("dead-letters", "platform", DEAD_LETTERS, (RAW,)),
    Holding("device-health", "platform", DEVICE_HEALTH, (RAW,)),
    Holding("late-windows", "platform", LATE_WINDOWS, (RAW,)),
    Holding("rollup-progress", "platform", ROLLUP_PROGRESS, (RAW,)),
    Holding("quality-flags", "platform", QUALITY_FLAG, (RAW,)),
    Holding("quality-progress", "platform", QUALITY_PROGRESS, (RAW,)),
)
"""The platform's own records in InfluxDB, all in the default policy (raw retention). The audit trail is not
here: it lives in the API's state database and is kept for ever (its hash chain proves nothing was removed)."""


def holdings() -> list[Holding]:
    """Every open dataset's measurements, then the platform's own data."""
    return [holding for dataset in DATASETS.values() for holding in _of_dataset(dataset)] + list(PLATFORM)


def kinds_clause(holding: Holding) -> tuple[str, dict[str, ParamValue]]:
    """``("facility_kind" = $kind0 OR ...)`` and its parameters; empty for every kind."""
    if not holding.facility_kinds:
        return "", {}
    params: dict[str, ParamValue] = {f"kind{n}": kind.value for n, kind in enumerate(holding.facility_kinds)}
    return "(" + " OR ".join(f'"facility_kind" = ${name}' for name in params) + ")", params


def expiry_statements(now_ms: int) -> list[tuple[str, dict[str, ParamValue]]]:
    """One ``DELETE`` per measurement of a holding with a retention of its own: points older than the retention,
    of the holding's facility kinds, from every retention policy (1.x applies DELETE to all of them)."""
    statements: list[tuple[str, dict[str, ParamValue]]] = []
    for holding in holdings():
        if holding.retention_days is None:
            continue
        clause, params = kinds_clause(holding)
        params["cutoff"] = (now_ms - holding.retention_days * 86_400_000) * 1_000_000
        where = f"{clause} AND time < $cutoff" if clause else "time < $cutoff"
        statements.append((f"DELETE FROM {quote_identifier(holding.measurement)} WHERE {where}", params))
    return statements
