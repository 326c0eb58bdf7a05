"""The default occupancy policy publishes something: the share of person-related cells it publishes on the demo city
of ``smartcity up`` (and on a city ten times as large), the figures docs/PRIVACY.md states."""

from __future__ import annotations

from services.opendata.privacy import PrivacyPolicy, Release, publish
from services.opendata.privacy.defaults import OCCUPANCY_KINDS, occupancy_area_level, occupancy_policy
from smartcity.city.model import City
from tests.support.privacy_demo import day_start_ms, demo_city, occupancy_cells


def _release(city: City, policy: PrivacyPolicy) -> Release:
    start = day_start_ms(city)
    return publish(policy, [d.id for d in city.districts], start, occupancy_cells(city, policy, start))


def test_the_demo_city_is_released_citywide_and_every_cell_is_published() -> None:
    city = demo_city()
    policy = occupancy_policy(city)
    assert policy.finest_area == "city"
    release = _release(city, policy)
    assert len(release.finest) == 2 * 24  # education and care, every hour of the day
    assert release.published_share() >= 0.95
    assert release.published_share(list(release.cells)) >= 0.95


def test_on_the_demo_city_a_district_grid_would_publish_too_little_to_be_worth_it() -> None:
    city = demo_city()
    grouped = occupancy_policy(city).model_copy(update={"finest_area": "district"})
    by_group = _release(city, grouped)
    assert by_group.published_share() < 0.5  # 7 %: one district holds three schools and libraries
    assert by_group.covered_share() > 0.9  # the rest is merged into the city's published cells
    by_kind = _release(city, PrivacyPolicy(timezone=city.timezone, kinds=OCCUPANCY_KINDS))
    assert by_kind.published_share() < 0.1  # no district has three facilities of one kind


def test_a_city_ten_times_the_demo_is_released_per_district() -> None:
    city = demo_city(devices=20_000)
    assert occupancy_area_level(city) == "district"
    release = _release(city, occupancy_policy(city))
    assert len(release.finest) == len(city.districts) * 2 * 24
    assert release.published_share() >= 0.9
