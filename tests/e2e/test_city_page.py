"""The city page in headless Chromium against a real stack (broker, gateway, influxd, API, a simulated street
light; :mod:`tests.support.city_page`): it loads without console errors or failed requests, draws every district,
shows a value published over MQTT within seconds, opens a facility with its sparklines, dims a street light and
shows the ack, keeps the public view to what the public may read, and axe-core finds no serious violation."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from playwright.async_api import Page, expect

from services.api.keys import Role
from services.api.routes import quality
from services.api.settings import ApiSettings
from services.citypage.routes import serves
from smartcity.city.directory import DeviceDirectory
from smartcity.contract.reading import Reading
from smartcity.quality_flags import Flag, FlagKind, flag_point
from smartcity.settings import InfluxSettings, MqttSettings
from tests.support.api_server import serving
from tests.support.api_support import api_city, create_key, write_readings
from tests.support.city_page import chromium, open_page, page_stack, screenshot, serious_violations
from tests.support.filled_city import FilledCity


async def _open_facility(page: Page, facility: str) -> None:
    await page.click(f"[data-facility='{facility}']")
    await expect(page.locator("#details-title")).to_have_text(facility.replace("-", "-").title())


async def test_the_page_loads_clean_draws_every_district_and_follows_a_published_value(
    tmp_path: Path, influx_settings: InfluxSettings, mqtt_settings: MqttSettings
) -> None:
    async with (
        page_stack(tmp_path, influx_settings, mqtt_settings) as stack,
        chromium() as browser,
        open_page(browser, stack.base_url + "/") as (page, watch),
    ):
        # The key entry field: the key goes to sessionStorage and the page re-reads the city with it.
        await page.fill("#key-input", stack.planner_key)
        await page.click("#key-form button[type=submit]")
        await expect(page.locator("#role-text")).to_have_text("Signed in as planner")
        assert await page.evaluate("sessionStorage.getItem('smartcity.apiKey')") == stack.planner_key
        districts = await page.locator("path.district").evaluate_all("nodes => nodes.map(n => n.dataset.district)")
        assert sorted(districts) == sorted(d.id for d in api_city().districts)
        markers = await page.locator("circle.facility").count()
        assert markers == len(api_city().facilities)
        await expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=10_000)
        await expect(page.locator("#indicator")).to_have_value("live:pm25")
        await expect(page.locator("#legend li")).not_to_have_count(1)  # classes besides "no data"
        await _open_facility(page, "school-n")
        cell = page.locator("[data-device='aq-n1'][data-metric='pm25']")
        await expect(cell).not_to_have_text("\N{EN DASH}")  # the page shows a dash for no value yet
        north = page.locator("path[data-district='north']")
        before = float(await north.get_attribute("data-value") or "nan")
        published = time.monotonic()
        await stack.publish("aq-n1", {"pm25": 87.25})
        await expect(cell).to_have_text("87.3 ug/m3", timeout=5_000)
        arrived_s = time.monotonic() - published
        assert arrived_s < 5.0, arrived_s
        # The map's colour follows: north's mean of aq-n1 and aq-n2 rises by half the jump.
        await expect(north).not_to_have_attribute("data-value", str(before), timeout=5_000)
        after = float(await north.get_attribute("data-value") or "nan")
        assert abs(after - before - (87.25 - 11.0 * 1.275) / 2) < 5, (before, after)
        served_quality = serves(stack.served.app, "/v1/quality")
        quality = "No open quality flags." if served_quality else "Quality checks not running."
        await expect(page.locator("[data-quality]")).to_have_text(quality)
        assert await page.locator("#open-data a").count() >= 3
        first = await page.locator("#open-data a").first.get_attribute("href")
        assert first is not None
        assert first.startswith("/v1/open/")
        await screenshot(page, "planner-live")
        assert watch.problems() == []


async def test_a_facility_opens_with_sparklines_and_an_operator_dims_a_street_light(
    tmp_path: Path, influx_settings: InfluxSettings, mqtt_settings: MqttSettings
) -> None:
    async with (
        page_stack(tmp_path, influx_settings, mqtt_settings) as stack,
        chromium() as browser,
        open_page(browser, f"{stack.base_url}/#key={stack.operator_key}") as (page, watch),  # as `up` prints it
    ):
        await expect(page.locator("#role-text")).to_have_text("Signed in as operator")
        assert await page.evaluate("window.location.hash") == ""  # the key left the address bar
        assert await page.evaluate("sessionStorage.getItem('smartcity.apiKey')") == stack.operator_key
        await _open_facility(page, "school-n")
        spark = page.locator("[data-spark='pm25'] svg path")
        await expect(spark).to_have_count(1)
        assert await page.locator("[data-spark='pm25']").get_attribute("data-points") is not None
        await expect(page.locator("[data-spark='pm25'] svg")).to_have_attribute("role", "img")
        await screenshot(page, "facility-sparklines")
        await _open_facility(page, "street-n")
        await expect(page.locator("[data-health='summary']")).to_contain_text("of 2 devices online")
        completeness = page.locator("[data-completeness]")
        await expect(completeness).to_have_text("2 of 2 devices have reported within the latest window")
        light = page.locator("form[data-light='light-n1']")
        await light.get_by_label("Dim level of light-n1 (%)").fill("35")
        await light.get_by_role("button", name="Dim").click()
        ack = light.locator("output")
        await expect(ack).to_have_attribute("data-state", "acked", timeout=10_000)
        await expect(ack).to_contain_text("level 35 %")
        assert stack.simulation.broadband[0].core.controls.dim_level == 35
        await screenshot(page, "street-light-acked")
        assert await serious_violations(page) == []  # the operator's view: tables, sparklines, the light's form
        assert watch.problems() == []


async def test_the_public_view_asks_only_for_what_the_public_may_read_and_axe_finds_nothing_serious(
    tmp_path: Path, influx_settings: InfluxSettings, mqtt_settings: MqttSettings
) -> None:
    newest = Reading("aq-s1", 999, int(time.time() * 1000) - 60_000, {"pm25": 42.0})
    async with page_stack(tmp_path, influx_settings, mqtt_settings) as stack, chromium() as browser:
        await asyncio.to_thread(write_readings, influx_settings, [newest])
        async with open_page(browser, stack.base_url + "/") as (page, watch):
            await expect(page.locator("#role-text")).to_have_text("Public view")
            await expect(page.locator("#live")).to_have_attribute("data-state", "off")
            await expect(page.locator("#indicator")).to_have_value("open:pm25")  # the open air-quality data
            await expect(page.locator("path[data-district='south']")).not_to_have_attribute("data-value", "")
            await page.locator("path[data-district='south']").focus()
            await page.keyboard.press("Enter")  # keyboard: a district opens like a click
            await expect(page.locator("#details-title")).to_have_text("District South")
            await page.get_by_role("button", name="school: School-S").click()
            await expect(page.locator("#details-title")).to_have_text("School-S")
            await expect(page.locator("#details-body")).to_contain_text("Enter a planner or operator key")
            await expect(page.locator("[data-open='pm25']")).to_have_text("42.0 ug/m3")  # aq-s1's newest, as open data
            await screenshot(page, "public")
            assert await serious_violations(page) == []
            assert watch.problems() == []


async def test_a_generated_city_with_days_of_history_renders_clean(filled_city: FilledCity, tmp_path: Path) -> None:
    city_file = tmp_path / "city.json"
    city_file.write_text(filled_city.city.model_dump_json(), encoding="utf-8")
    settings = ApiSettings.model_validate(
        {
            "influx": filled_city.influx,
            "city_file": city_file,
            "state_file": tmp_path / "state.sqlite",
            "latest_lookback_s": 86_400,  # the data set ends at the start of this hour
        }
    )
    planner = create_key(settings, Role.PLANNER)
    async with (
        serving(settings) as served,
        chromium() as browser,
        open_page(browser, served.base_url + "/", key=planner, size=(1600, 1000)) as (page, watch),
    ):
        await expect(page.locator("path.district")).to_have_count(len(filled_city.city.districts))
        await expect(page.locator("circle.facility")).to_have_count(len(filled_city.city.facilities))
        await expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=10_000)
        coloured = page.locator("path.district:not([data-value=''])")
        await expect(coloured).not_to_have_count(0, timeout=10_000)  # districts with PM2.5 sensors
        park = next(f for f in filled_city.city.facilities if f.kind.value == "park")
        await page.click(f"[data-facility='{park.id}']")
        await expect(page.locator("#details-title")).to_have_text(park.name)
        await expect(page.locator(".spark[data-points]").first).to_be_visible(timeout=10_000)
        await screenshot(page, "generated-city", full_page=False)  # docs/city-page.png is one of these
        assert watch.problems() == []


async def test_open_quality_flags_are_listed_and_one_opens_its_facility(
    tmp_path: Path, influx_settings: InfluxSettings, mqtt_settings: MqttSettings
) -> None:
    now = int(time.time() * 1000)
    info = DeviceDirectory.from_city(api_city()).get("aq-s1")
    assert info is not None
    flags = [
        Flag("aq-s1", FlagKind.STUCK, now - 3 * 3_600_000, "pm25 held 12.0 for 3 h", 2.0, "pm25", 0, now),
        Flag("aq-s1", FlagKind.OFFLINE, now - 9 * 3_600_000, "silent for 2 h", 1.5, "", now - 7 * 3_600_000, now),
    ]
    body = "\n".join(flag_point(info, flag) for flag in flags).encode()
    async with httpx.AsyncClient(base_url=influx_settings.url) as influx:
        written = await influx.post("/write", params={"db": influx_settings.database, "precision": "ms"}, content=body)
        assert written.status_code == 204, written.text
    async with page_stack(tmp_path, influx_settings, mqtt_settings) as stack, chromium() as browser:
        if not serves(stack.served.app, "/v1/quality"):
            stack.served.app.include_router(quality.router(stack.served.state.settings))  # the API without it yet
        async with open_page(browser, stack.base_url + "/", key=stack.planner_key) as (page, watch):
            listed = page.locator("[data-quality='flags'] li")
            await expect(listed).to_have_count(1)  # the closed offline flag is not open
            await expect(listed).to_contain_text("stuck (pm25) at aq-s1: pm25 held 12.0 for 3 h")
            await listed.get_by_role("button").click()
            await expect(page.locator("#details-title")).to_have_text("School-S")
            await screenshot(page, "quality-flags")
            assert watch.problems() == []
        async with open_page(browser, stack.base_url + "/") as (page, watch):
            await expect(page.locator("[data-quality]")).to_have_text(
                "Enter a planner or operator key to see the quality flags."
            )
            assert watch.problems() == []


async def test_the_live_indicator_turns_stale_when_the_stream_stops(
    tmp_path: Path, influx_settings: InfluxSettings, mqtt_settings: MqttSettings
) -> None:
    async with (
        page_stack(tmp_path, influx_settings, mqtt_settings) as stack,
        chromium() as browser,
        open_page(browser, stack.base_url + "/", key=stack.planner_key) as (page, watch),
    ):
        live = page.locator("#live")
        await expect(live).to_have_attribute("data-state", "live", timeout=10_000)
        await expect(live).to_have_text("Live")
        stack.served.stop()  # the API shuts down: its streams end, reconnecting is refused
        await expect(live).to_have_attribute("data-state", "stale", timeout=10_000)
        await expect(live).to_contain_text("Stale: no update for")
        await screenshot(page, "stale")
        refused = [p for p in watch.problems() if "/v1/stream" not in p and "ERR_CONNECTION_REFUSED" not in p]
        assert refused == []  # only the stream's reconnects failed
