"""A city at a glance: counts per district, facility kind, device type and network class, as rich tables.

Every table reads in an 80-column terminal: the wide district x facility-kind matrix is split from the district
list and uses the facility id prefixes (``sc``, ``ho``...) as column headers with a legend, radio profiles get
short headers, and the devices of each facility kind are a wrapped list rather than a 13-column matrix.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from smartcity.city.catalogue import FACILITIES
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
    floor_area_by_kind: Counter[FacilityKind]
    """Facility kind -> gross floor area in m2 of the buildings that declare one."""

    @classmethod
    def of(cls, city: City) -> CitySummary:
        kind_of = {f.id: f.kind for f in city.facilities}
        floor: Counter[FacilityKind] = Counter()
        for f in city.facilities:
            if f.floor_area_m2 is not None:
                floor[f.kind] += round(f.floor_area_m2)
        return cls(
            facilities=Counter((f.district_id, f.kind) for f in city.facilities),
            devices_by_district=Counter(d.district_id for d in city.devices),
            networks=Counter((d.type, d.network) for d in city.devices),
            radios=Counter((d.type, d.radio) for d in city.devices if d.radio is not None),
            types_by_kind=Counter((kind_of[d.facility_id], d.type) for d in city.devices if d.facility_id in kind_of),
            floor_area_by_kind=floor,
        )


_RADIO_HEADERS = {RadioProfile.LORAWAN_SF12: "SF12", RadioProfile.LORAWAN_SF7: "SF7", RadioProfile.NBIOT: "NB-IoT"}


def _n(value: int) -> str:
    return f"{value:,}" if value else "[dim]-[/dim]"


def _table(title: str, caption: str | None = None) -> Table:
    # no vertical rules and no edge padding: the columns that 80 columns need
    return Table(
        title=title,
        title_justify="left",
        caption=caption,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        padding=(0, 1, 0, 0),
    )


def _district_table(city: City, summary: CitySummary) -> Table:
    table = _table("Districts")
    table.add_column("district")
    table.add_column("population", justify="right", no_wrap=True)
    table.add_column("prefix (/64)", no_wrap=True)
    table.add_column("facilities", justify="right", no_wrap=True)
    table.add_column("devices", justify="right", no_wrap=True)
    for d in city.districts:
        facilities = sum(summary.facilities[(d.id, kind)] for kind in FacilityKind)
        # names and addresses as Text: no markup or emoji codes (":a:" in "fd00:...:a::/64") are interpreted
        devices = summary.devices_by_district[d.id]
        table.add_row(Text(d.name), f"{d.population:,}", Text(str(d.prefix)), _n(facilities), _n(devices))
    table.add_section()
    population = sum(d.population for d in city.districts)
    table.add_row(
        "total",
        f"{population:,}",
        Text(str(city.ula_prefix)),
        f"{len(city.facilities):,}",
        f"{len(city.devices):,}",
        style="bold",
    )
    return table


def _facility_table(city: City, summary: CitySummary) -> Table:
    legend = ", ".join(f"{FACILITIES[kind].prefix} {kind.value}" for kind in FacilityKind)
    table = _table("Districts x facility kinds", caption=legend)
    table.add_column("district id")
    for kind in FacilityKind:
        table.add_column(FACILITIES[kind].prefix, justify="right", no_wrap=True)
    for d in city.districts:
        table.add_row(Text(d.id), *(_n(summary.facilities[(d.id, kind)]) for kind in FacilityKind))
    table.add_section()
    totals = [_n(sum(v for (_, k), v in summary.facilities.items() if k is kind)) for kind in FacilityKind]
    table.add_row("total", *totals, style="bold")
    return table


def _device_table(summary: CitySummary) -> Table:
    table = _table("Device types x network class", caption="narrowband radios: SF12, SF7 = LoRaWAN EU868; NB-IoT")
    table.add_column("device type", no_wrap=True)
    headers = ("broadband", "narrowband", *_RADIO_HEADERS.values(), "total")
    for header in headers:
        table.add_column(header, justify="right", no_wrap=True)
    totals: Counter[str] = Counter()
    for device_type in DeviceType:
        row = {
            "broadband": summary.networks[(device_type, NetworkClass.BROADBAND)],
            "narrowband": summary.networks[(device_type, NetworkClass.NARROWBAND)],
            **{label: summary.radios[(device_type, radio)] for radio, label in _RADIO_HEADERS.items()},
        }
        row["total"] = row["broadband"] + row["narrowband"]
        totals.update(row)
        table.add_row(device_type.value, *(_n(v) for v in row.values()))
    table.add_section()
    table.add_row("total", *(_n(totals[h]) for h in headers), style="bold")
    return table


def _kind_table(city: City, summary: CitySummary) -> Table:
    owners = {kind: d.id for d in city.departments for kind in d.facility_kinds}
    table = _table("Devices per facility kind")
    table.add_column("facility kind", no_wrap=True)
    table.add_column("department", no_wrap=True)
    table.add_column("floor m2", justify="right", no_wrap=True)
    table.add_column("devices by type")
    for kind in FacilityKind:
        mix = sorted(((n, t) for (k, t), n in summary.types_by_kind.items() if k is kind), reverse=True)
        text = ", ".join(f"{t.value} {n:,}" for n, t in mix)
        table.add_row(kind.value, Text(owners.get(kind, "-")), _n(summary.floor_area_by_kind[kind]), text or "-")
    return table


def render_summary(city: City) -> Group:
    """The tables and a headline, ready for ``Console.print``."""
    summary = CitySummary.of(city)
    narrowband = sum(v for (_, net), v in summary.networks.items() if net is NetworkClass.NARROWBAND)
    share = narrowband / len(city.devices) if city.devices else 0.0
    headline = Text.assemble(
        (city.name, "bold"),
        f": {len(city.districts)} districts, {len(city.facilities):,} facilities, {len(city.devices):,} devices "
        f"({share:.0%} narrowband), address plan {city.ula_prefix}, time zone {city.timezone}",
        f", seed {city.seed}" if city.seed is not None else "",
    )
    return Group(
        headline,
        _district_table(city, summary),
        _facility_table(city, summary),
        _device_table(summary),
        _kind_table(city, summary),
    )


def print_summary(city: City, console: Console | None = None) -> None:
    (console or Console()).print(render_summary(city))
