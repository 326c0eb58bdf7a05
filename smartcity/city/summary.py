"""A city at a glance: counts per district, facility kind, device type and network class, as rich tables."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from smartcity.city.model import City, DeviceType, FacilityKind, NetworkClass, RadioProfile


@dataclass(frozen=True, slots=True)
class CitySummary:
    """The counts behind ``smartcity city show`` (also handy for tests and scripts)."""

    facilities: Counter[tuple[str, FacilityKind]]
    """(district id, facility kind) -> facilities."""
    devices_by_district: Counter[str]
    networks: Counter[tuple[DeviceType, NetworkClass]]
    radios: Counter[tuple[DeviceType, RadioProfile]]
    types_by_kind: Counter[tuple[FacilityKind, DeviceType]]
    """(facility kind, device type) -> devices."""

    @classmethod
    def of(cls, city: City) -> CitySummary:
        kind_of = {f.id: f.kind for f in city.facilities}
        return cls(
            facilities=Counter((f.district_id, f.kind) for f in city.facilities),
            devices_by_district=Counter(d.district_id for d in city.devices),
            networks=Counter((d.type, d.network) for d in city.devices),
            radios=Counter((d.type, d.radio) for d in city.devices if d.radio is not None),
            types_by_kind=Counter((kind_of[d.facility_id], d.type) for d in city.devices if d.facility_id in kind_of),
        )


_KIND_HEADERS = {
    FacilityKind.SCHOOL: "schools",
    FacilityKind.HOSPITAL: "hospitals",
    FacilityKind.NURSING_HOME: "nursing",
    FacilityKind.LIBRARY: "libraries",
    FacilityKind.PUBLIC_BUILDING: "public",
    FacilityKind.STREET_SEGMENT: "streets",
    FacilityKind.PARK: "parks",
    FacilityKind.CAR_PARK: "car parks",
}


def _n(value: int) -> str:
    return f"{value:,}" if value else "[dim]-[/dim]"


def _district_table(city: City, summary: CitySummary) -> Table:
    table = Table(title="Districts x facility kinds", title_justify="left")
    table.add_column("district")
    table.add_column("population", justify="right")
    table.add_column("prefix")
    for header in _KIND_HEADERS.values():
        table.add_column(header, justify="right")
    table.add_column("devices", justify="right")
    for d in city.districts:
        counts = [_n(summary.facilities[(d.id, kind)]) for kind in FacilityKind]
        # names and addresses as Text: no markup or emoji codes (":a:" in "fd00:...:a::/64") are interpreted
        table.add_row(
            Text(f"{d.name} ({d.id})"),
            f"{d.population:,}",
            Text(str(d.prefix)),
            *counts,
            _n(summary.devices_by_district[d.id]),
        )
    totals = [_n(sum(v for (_, k), v in summary.facilities.items() if k is kind)) for kind in FacilityKind]
    population = sum(d.population for d in city.districts)
    table.add_section()
    table.add_row(
        "total", f"{population:,}", Text(str(city.ula_prefix)), *totals, f"{len(city.devices):,}", style="bold"
    )
    return table


def _device_table(summary: CitySummary) -> Table:
    table = Table(title="Device types x network class", title_justify="left")
    table.add_column("device type")
    headers = ("broadband", "narrowband", *(r.value for r in RadioProfile), "total")
    for header in headers:
        table.add_column(header, justify="right")
    totals: Counter[str] = Counter()
    for device_type in DeviceType:
        row = {
            "broadband": summary.networks[(device_type, NetworkClass.BROADBAND)],
            "narrowband": summary.networks[(device_type, NetworkClass.NARROWBAND)],
            **{r.value: summary.radios[(device_type, r)] for r in RadioProfile},
        }
        row["total"] = row["broadband"] + row["narrowband"]
        totals.update(row)
        table.add_row(device_type.value, *(_n(v) for v in row.values()))
    table.add_section()
    table.add_row("total", *(_n(totals[h]) for h in headers), style="bold")
    return table


def _kind_table(summary: CitySummary) -> Table:
    table = Table(title="Devices per facility kind and device type", title_justify="left")
    table.add_column("device type")
    for header in _KIND_HEADERS.values():
        table.add_column(header, justify="right")
    for device_type in DeviceType:
        table.add_row(device_type.value, *(_n(summary.types_by_kind[(k, device_type)]) for k in FacilityKind))
    return table


def render_summary(city: City) -> Group:
    """The three tables and a headline, ready for ``Console.print``."""
    summary = CitySummary.of(city)
    narrowband = sum(v for (_, net), v in summary.networks.items() if net is NetworkClass.NARROWBAND)
    share = narrowband / len(city.devices) if city.devices else 0.0
    headline = Text.assemble(
        (city.name, "bold"),
        f": {len(city.districts)} districts, {len(city.facilities):,} facilities, {len(city.devices):,} devices "
        f"({share:.0%} narrowband), address plan {city.ula_prefix}",
        f", seed {city.seed}" if city.seed is not None else "",
    )
    return Group(headline, _district_table(city, summary), _device_table(summary), _kind_table(summary))


def print_summary(city: City, console: Console | None = None) -> None:
    (console or Console()).print(render_summary(city))
