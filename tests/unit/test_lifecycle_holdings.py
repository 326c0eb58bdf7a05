"""Retention per dataset as data: person-related datasets keep a year in every tier, the others what the tiers
keep; the expiry statements carry every value as a bind parameter; a decommissioned device's plan keeps exactly
its environmental measurements."""

from __future__ import annotations

from services.api.decommission import PLATFORM_MEASUREMENTS, plan
from services.lifecycle.holdings import expiry_statements, holdings
from services.opendata.datasets import DATASETS, PERSON_RELATED_RETENTION_DAYS
from tests.support.api_support import api_city


def test_person_related_datasets_and_only_they_have_a_retention_of_their_own() -> None:
    for dataset in DATASETS.values():
        expected = PERSON_RELATED_RETENTION_DAYS if dataset.person_related else None
        assert dataset.retention_days == expected, dataset.id
        assert dataset.retention_days is None or dataset.retention_days >= dataset.caps.max_days


def test_expiry_statements_bind_every_value() -> None:
    now_ms = 1_750_000_000_000
    statements = expiry_statements(now_ms)
    assert len(statements) == sum(1 for d in DATASETS.values() if d.retention_days is not None)
    for statement, params in statements:
        assert statement.startswith('DELETE FROM "occupancy" WHERE ("facility_kind" = $kind0) AND time < $cutoff')
        assert params["cutoff"] == (now_ms - PERSON_RELATED_RETENTION_DAYS * 86_400_000) * 1_000_000
        assert str(params["kind0"]) not in statement
    assert {h.name for h in holdings()} >= set(DATASETS) | {"dead-letters", "device-health"}


def test_a_decommissioned_devices_plan_keeps_its_environmental_measurements_only() -> None:
    devices = {device.id: device for device in api_city().devices}
    air = plan(devices["aq-n1"], keep_environmental=True)
    assert air.keep == ("air_quality",)
    assert set(air.remove) == {"device_vitals", *PLATFORM_MEASUREMENTS}
    assert "air_quality" in plan(devices["aq-n1"], keep_environmental=False).remove
    bay = plan(devices["park-s1"], keep_environmental=True)
    assert bay.keep == ()
    assert "parking" in bay.remove
