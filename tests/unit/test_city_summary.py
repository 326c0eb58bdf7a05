"""The city summary: its counts add up, and data is printed literally (no rich markup or emoji codes)."""

from __future__ import annotations

from rich.console import Console

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
    for title in ("Districts x facility kinds", "Device types x network class", "Devices per facility kind"):
        assert title in text
