"""What one row of an export holds, per dataset: the place it is about, the InfluxDB fields it is read from and the
value columns it carries, with their units and how a facility's devices combine into one value.

Per sensor (environmental datasets, raw points): one row per reading of one device, a column per metric holding
the value as measured.

Per facility (infrastructure datasets, hourly roll-ups ``rp_1h``): one row per UTC hour and facility from the
roll-up points of its devices (``<metric>_sum``, ``_count``, ``_min``, ``_max``, ``_increase``, see
docs/ROLLUPS.md), combined by the metric's nature:

- a gauge whose devices each see the whole facility or a like part of it (a car park's counters, a street's
  lights or bins): ``<metric>_mean`` = sum of sums / sum of counts (the exact mean of every reading in the hour),
  ``<metric>_min`` and ``<metric>_max`` over the devices' minima and maxima;
- a rate measured by meters that each see a part of the facility (:data:`ADDITIVE`: a building's power meters):
  ``<metric>_mean`` = the devices' hourly means added up (minimum and maximum of a total cannot be had from the
  parts, so there are none);
- a cumulative register (``energy``): ``<metric>`` = the devices' reset-aware increases added up, what was
  consumed in the hour.

Every facility row also counts the ``devices`` that reported in the hour.

Per release cell (person-related datasets, :mod:`services.opendata.exports.releases`): one row per cell of the
privacy engine's release for the dataset's kind (or the kind group the policy releases it in), at every area and
window level: the window, its levels, the facilities, the value where the cell is published, and the treatment.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from services.opendata.datasets import OpenDataset, SpatialGranularity
from smartcity.contract.metrics import METRICS, MetricSpec, Temporality
from smartcity.rollups import field

ADDITIVE = frozenset({"power", "water_flow"})
"""Rates whose meters at one facility each measure a part of it: the facility's value is their sum."""


class Combine(enum.Enum):
    """How one value column comes out of a facility's per-device roll-up points."""

    VALUE = "value"
    """A raw reading, as measured (per-sensor rows)."""
    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    ADDED_MEANS = "added means"
    ADDED_INCREASES = "added increases"
    DEVICES = "devices"
    """How many of the facility's devices have a roll-up point in the hour."""
    RELEASED = "released"
    """As the privacy engine released it (value only where the cell is published or empty)."""


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    """CSV column, GeoJSON property and SenML record name."""
    unit: str
    """SenML unit (the metric's)."""
    combine: Combine
    fields: tuple[str, ...] = ()
    """The InfluxDB fields it is computed from (the metric itself for raw rows; roll-up fields otherwise)."""
    in_senml: bool = True
    """False for a release's labels that a SenML record's base name already says (levels, kind, window end)."""


class RowKind(enum.StrEnum):
    SENSOR = "sensor"
    """A row per reading of one device (raw points)."""
    FACILITY = "facility"
    """A row per hour and facility (hourly roll-ups)."""
    RELEASE = "release"
    """A row per cell of the privacy engine's release (person-related data)."""


@dataclass(frozen=True, slots=True)
class Layout:
    """The rows of one dataset."""

    dataset: OpenDataset
    measurement: str
    rows: RowKind
    columns: tuple[Column, ...]

    @property
    def per_sensor(self) -> bool:
        return self.rows is RowKind.SENSOR

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field the rows are read from, each once, in column order."""
        return tuple(dict.fromkeys(name for column in self.columns for name in column.fields))


DEVICES_COLUMN = Column("devices", "count", Combine.DEVICES, ())


def _facility_columns(spec: MetricSpec) -> list[Column]:
    def part(*parts: str) -> tuple[str, ...]:
        return tuple(field(spec, p) for p in parts)

    if spec.temporality is Temporality.REGISTER:
        return [Column(spec.name, spec.unit, Combine.ADDED_INCREASES, part("increase"))]
    if spec.name in ADDITIVE:
        return [Column(f"{spec.name}_mean", spec.unit, Combine.ADDED_MEANS, part("sum", "count"))]
    return [
        Column(f"{spec.name}_mean", spec.unit, Combine.MEAN, part("sum", "count")),
        Column(f"{spec.name}_min", spec.unit, Combine.MIN, part("min")),
        Column(f"{spec.name}_max", spec.unit, Combine.MAX, part("max")),
    ]


def _release_columns(spec: MetricSpec) -> list[Column]:
    def label(name: str) -> Column:
        return Column(name, "", Combine.RELEASED, in_senml=False)

    labels = [label(name) for name in ("window_end", "window_level", "area_level", "kind", "kind_level")]
    return [
        *labels,
        Column("facilities", "count", Combine.RELEASED),
        Column(spec.name, spec.unit, Combine.RELEASED),
        Column("treatment", "", Combine.RELEASED),
    ]


def layout_of(dataset: OpenDataset) -> Layout:
    """The layout of a dataset; ValueError for metrics in more than one measurement (one statement reads a chunk)
    or, for person-related data, more than one metric (a release counts one thing)."""
    specs = [METRICS[name] for name in dataset.metrics]
    measurements = {spec.measurement for spec in specs}
    if len(measurements) != 1:
        raise ValueError(f"{dataset.id}: an export reads one measurement, the metrics are in {sorted(measurements)}")
    measurement = measurements.pop()
    if dataset.spatial is SpatialGranularity.SENSOR:
        columns = [Column(spec.name, spec.unit, Combine.VALUE, (spec.field,)) for spec in specs]
        return Layout(dataset, measurement, RowKind.SENSOR, tuple(columns))
    if dataset.spatial is SpatialGranularity.FACILITY:
        columns = [DEVICES_COLUMN, *(column for spec in specs for column in _facility_columns(spec))]
        return Layout(dataset, measurement, RowKind.FACILITY, tuple(columns))
    if len(specs) != 1:
        raise ValueError(f"{dataset.id}: a release counts one metric, not {len(specs)}")
    return Layout(dataset, measurement, RowKind.RELEASE, tuple(_release_columns(specs[0])))


Number = int | float
Value = Number | str | None
"""One cell of a row: a number, a release's label, or nothing."""
DeviceValues = Sequence[Number | None]
"""One device's roll-up fields for one hour, in :attr:`Layout.fields` order."""


class Combiner:
    """Combines a facility hour's device points into its value columns (None where no device had the parts a
    column needs)."""

    def __init__(self, layout: Layout) -> None:
        position = {name: index for index, name in enumerate(layout.fields)}
        self._columns = [(column.combine, [position[name] for name in column.fields]) for column in layout.columns]

    def __call__(self, devices: Sequence[DeviceValues]) -> tuple[Number | None, ...]:
        out: list[Number | None] = []
        for how, indices in self._columns:
            present: list[list[Number]] = []
            for row in devices:
                parts = [row[i] for i in indices]
                if all(v is not None for v in parts):
                    present.append(parts)  # type: ignore[arg-type]  # None ruled out just above
            out.append(_combined(how, present) if present else None)
        return tuple(out)


def _combined(how: Combine, parts: list[list[Number]]) -> Number | None:
    if how is Combine.MEAN:
        count = sum(row[1] for row in parts)
        return sum(row[0] for row in parts) / count if count else None
    if how is Combine.ADDED_MEANS:
        return sum(row[0] / row[1] for row in parts if row[1])
    if how is Combine.MIN:
        return min(row[0] for row in parts)
    if how is Combine.MAX:
        return max(row[0] for row in parts)
    if how is Combine.ADDED_INCREASES:
        return sum(row[0] for row in parts)
    if how is Combine.DEVICES:
        return len(parts)
    return parts[0][0]
