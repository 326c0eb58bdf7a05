"""The open-dataset definitions against the metric registry, the city model's departments, the roll-up policy and
the generated city; and the table of docs/OPEN_DATA.md against the definitions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.opendata.datasets import (
    ALL_KINDS,
    DATASETS,
    OpenDataset,
    Privacy,
    Source,
    SpatialGranularity,
    TemporalGranularity,
    publisher_of,
)
from services.opendata.doc import BEGIN, END, render, updated
from services.opendata.vocabularies import Frequency
from smartcity.city.departments import default_departments
from smartcity.city.model import Department, FacilityKind
from smartcity.contract.metrics import DEVICE_METRICS, METRICS, MetricKind
from smartcity.rollups import RollupPolicy
from tests.support.city_history import build_city
from tests.support.filled_city import DEFAULT_SPEC

DOC = Path(__file__).resolve().parents[2] / "docs" / "OPEN_DATA.md"
DEPARTMENTS = {department.id: department for department in default_departments()}
ENVIRONMENTAL = {"air-quality", "noise", "weather", "flood-levels"}
PERSON_RELATED = {"school-occupancy", "library-occupancy", "hospital-occupancy", "nursing-home-occupancy"}
PER_FACILITY = {"public-building-energy", "car-parks", "street-lighting", "waste"}


def test_the_datasets_are_the_issue_s_list_grouped_by_what_they_are_about() -> None:
    assert set(DATASETS) == ENVIRONMENTAL | PERSON_RELATED | PER_FACILITY
    assert {d.id for d in DATASETS.values() if d.spatial is SpatialGranularity.SENSOR} == ENVIRONMENTAL
    assert {d.id for d in DATASETS.values() if d.person_related} == PERSON_RELATED
    assert {d.id for d in DATASETS.values() if d.spatial is SpatialGranularity.FACILITY} == PER_FACILITY
    occupancy_kinds = {d.facility_kinds for d in DATASETS.values() if d.person_related}
    kinds = (FacilityKind.SCHOOL, FacilityKind.LIBRARY, FacilityKind.HOSPITAL, FacilityKind.NURSING_HOME)
    assert occupancy_kinds == {(kind,) for kind in kinds}


@pytest.mark.parametrize("dataset", DATASETS.values(), ids=lambda d: d.id)
def test_every_definition_holds_to_the_registry(dataset: OpenDataset) -> None:
    assert DATASETS[dataset.id] is dataset
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", dataset.id), "the id is the export URL's slug"
    assert dataset.title
    assert dataset.description.endswith(".")
    assert len(set(dataset.metrics)) == len(dataset.metrics) > 0
    assert all(metric in METRICS for metric in dataset.metrics), dataset.metrics
    assert len(set(dataset.facility_kinds)) == len(dataset.facility_kinds) > 0
    if dataset.source is not Source.RAW:  # a roll-up keeps only a count of booleans and text
        assert all(METRICS[m].kind in (MetricKind.FLOAT, MetricKind.INT) for m in dataset.metrics), dataset.metrics
    assert len(set(dataset.themes)) == len(dataset.themes) > 0
    assert dataset.licence.spdx == "CC-BY-4.0"
    assert dataset.licence.uri == "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0"


@pytest.mark.parametrize("dataset", DATASETS.values(), ids=lambda d: d.id)
def test_the_publisher_is_a_department_that_owns_the_data(dataset: OpenDataset) -> None:
    department = DEPARTMENTS[dataset.publisher]
    owns_metrics = set(dataset.metrics) <= set(department.metrics)
    owns_facilities = set(dataset.facility_kinds) <= set(department.facility_kinds)
    if dataset.person_related:
        assert owns_facilities, "person-related data: the department answering for the facilities publishes it"
    else:
        assert owns_metrics or owns_facilities
    assert publisher_of(dataset, default_departments()) == department


@pytest.mark.parametrize("dataset", DATASETS.values(), ids=lambda d: d.id)
def test_granularity_source_frequency_privacy_and_caps_agree(dataset: OpenDataset) -> None:
    policy = RollupPolicy()
    if dataset.person_related:
        assert dataset.spatial is SpatialGranularity.DISTRICT_FACILITY_KIND
        assert dataset.temporal is not TemporalGranularity.AS_MEASURED, "releases are an hour or coarser"
        assert dataset.privacy is Privacy.FIXED_RELEASE
    else:
        assert dataset.spatial is not SpatialGranularity.DISTRICT_FACILITY_KIND
        assert dataset.privacy is Privacy.NONE
    tier = dataset.source.tier
    if tier is None:
        assert dataset.temporal is TemporalGranularity.AS_MEASURED
        assert dataset.frequency is Frequency.CONTINUOUS
        retention = policy.raw_days
    else:
        assert dataset.temporal is not TemporalGranularity.AS_MEASURED
        assert tier.retention_policy == dataset.source.value
        assert {TemporalGranularity.HOUR: 3600, TemporalGranularity.LOCAL_DAY: 86_400}[dataset.temporal] % (
            tier.bucket_s
        ) == 0, "the source's windows tile the published ones"
        assert dataset.frequency is {3600: Frequency.HOURLY, 86_400: Frequency.DAILY}[tier.bucket_s]
        retention = policy.days(tier)
    if retention:
        assert dataset.caps.max_days <= retention, "a request may not reach past what the source keeps"
    assert dataset.caps.max_days >= 28, "a month of data in one request"
    assert 0 < dataset.caps.max_rows <= 10_000_000


def test_every_dataset_has_devices_in_the_generated_city() -> None:
    city = build_city(DEFAULT_SPEC)
    kind_of = {facility.id: facility.kind for facility in city.facilities}
    for dataset in DATASETS.values():
        devices = [
            d
            for d in city.devices
            if kind_of[d.facility_id] in dataset.facility_kinds
            and any(m in DEVICE_METRICS[d.type] for m in dataset.metrics)
        ]
        assert devices, dataset.id
    environmental = [d for d in DATASETS.values() if d.id in ENVIRONMENTAL]
    assert all(d.facility_kinds == ALL_KINDS for d in environmental), "a sensor counts wherever it stands"


def test_a_city_with_departments_of_its_own_publishes_through_the_owner() -> None:
    air, school = DATASETS["air-quality"], DATASETS["school-occupancy"]
    own = [
        Department(id="umwelt", name="Umweltamt", metrics=["pm25", "no2"]),
        Department(id="schulen", name="Schulamt", facility_kinds=[FacilityKind.SCHOOL], metrics=["occupancy"]),
    ]
    assert publisher_of(air, own) == own[0]
    assert publisher_of(school, own) == own[1], "person-related: the facilities' department, not the metric's"
    assert publisher_of(DATASETS["noise"], own) is None, "nobody owns laeq: the city itself publishes it"


def test_the_open_data_doc_tables_every_dataset_from_the_definitions() -> None:
    document = DOC.read_text(encoding="utf-8")
    assert updated(document) == document, "run: .venv/bin/python -m services.opendata.doc"
    table = document.split(BEGIN, 1)[1].split(END, 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [line.split("|")[1].strip(" `") for line in rows] == list(DATASETS)
    assert "| `school-occupancy` | Occupancy of schools | `occupancy` | school | district x facility kind |" in render()
    assert "[OPEN_DATA.md](OPEN_DATA.md)" in (DOC.parent / "API.md").read_text(encoding="utf-8")
