"""The city summary: its counts add up, and data is printed literally (no rich markup or emoji codes)."""

from __future__ import annotations

from rich.console import Console

from smartcity.city.catalogue import FACILITIES
from smartcity.city.generate import generate_city
from smartcity.city.model import FacilityKind, NetworkClass
from smartcity.city.summary import CitySummary, print_summary


def test_counts_add_up() -> None:
    city = generate_city(devices=700, seed=8)
    summary = CitySummary.of(city)
    assert summary.facilities.total() == len(city.facilities)
    assert summary.devices_by_district.total() == summary.networks.total() == len(city.devices)
    assert summary.types_by_kind.total() == len(city.devices)
    narrowband = sum(v for (_, net), v in summary.networks.items() if net is NetworkClass.NARROWBAND)
    assert summary.radios.total() == narrowband
    assert all(summary.facilities[(d.id, FacilityKind.STREET_SEGMENT)] > 0 for d in city.districts)


def test_names_and_prefixes_are_printed_literally() -> None:
    city = generate_city(devices=200, seed=8, districts=12)
    first = city.districts[0].model_copy(update={"name": "[bold]Docks[/bold] :a:"})
    city = city.model_copy(update={"districts": [first, *city.districts[1:]]})
    console = Console(width=250, record=True, color_system=None)
    print_summary(city, console)
    text = console.export_text()
    assert "[bold]Docks[/bold] :a:" in text
    assert str(city.districts[10].prefix) in text  # "...:b::/64", not an emoji
    titles = ("Districts", "Districts x facility kinds", "Device types x network class", "Devices per facility kind")
    for title in titles:
        assert title in text


def test_every_table_reads_at_80_columns() -> None:
    # 30 districts (the generator's most, with its longest names) and five-digit counts
    city = generate_city(devices=50_000, seed=8, districts=30)
    console = Console(width=80, record=True, color_system=None)
    print_summary(city, console)
    text = console.export_text()
    assert "…" not in text, "a header or value was truncated"
    assert max(len(line) for line in text.splitlines()) <= 80
    headers = (
        "district", "population", "prefix (/64)", "facilities", "devices", "district id", "device type", "broadband",
        "narrowband", "SF12", "SF7", "NB-IoT", "total", "facility kind", "department", "floor m2", "devices by type",
        *(FACILITIES[kind].prefix for kind in FacilityKind),
    )  # fmt: skip
    lines = text.splitlines()
    for header in headers:
        assert any(f" {header} " in f" {line} " for line in lines), header
    for kind in FacilityKind:
        assert f"{FACILITIES[kind].prefix} {kind.value}" in " ".join(text.split())  # the legend of the short headers
