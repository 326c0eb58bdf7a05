"""What the city page's browser tests share: a real stack behind the page and a watched headless Chromium.

The stack is the fixture Mosquitto and influxd, the gateway as a child process (readings published over MQTT
reach InfluxDB as in production), the planning API served by uvicorn in the test's loop (commands on, the last-value
cache refreshed every 0.2 s) and the simulated street light ``light-n1`` (it applies dim commands and acks them).
InfluxDB starts with 24 hours of readings at every device, so the page's sparklines have data.

The browser is Debian's Chromium driven by Playwright (never ``playwright install``), with the flags in
``/work/shared/FIELD-NOTES.md``. :class:`PageWatch` records what a user's console would show: console errors,
uncaught exceptions, requests that failed and answers of 400 and above.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
from playwright.async_api import Browser, ConsoleMessage, Page, Request, Response, async_playwright

from devices.run_options import RunOptions
from devices.runner import Simulation
from devices.settings import SimulatorSettings
from services.api.keys import Role
from services.api.settings import ApiSettings
from smartcity.contract.reading import Reading, Value
from smartcity.contract.topics import TopicKind, TopicScheme
from smartcity.localservices.gateway import GatewayProcess
from smartcity.settings import InfluxSettings, MqttSettings
from tests.support.api_server import Served, serving
from tests.support.api_support import DEVICES, api_city, api_settings, create_key, write_readings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "city-page"
"""Screenshots of the browser tests (gitignored)."""
AXE = Path(__file__).parent / "axe" / "axe-core-4.14.1.min.js"

_HISTORY_STEP_MS = 30 * 60_000
_SAMPLE_VALUES: dict[str, dict[str, Value]] = {
    "air_quality": {"pm25": 11.0, "pm10": 18.0, "no2": 24.0, "o3": 40.0},
    "noise": {"laeq": 55.0, "lamax": 70.0},
    "street_light": {"lamp_on": True, "dim_level": 80, "lamp_power": 40.0},
    "info_display": {"brightness": 70},
    "parking_bay": {"occupied": False},
}


def history(now_ms: int) -> list[Reading]:
    """24 hours of readings, one every 30 minutes, at every device of the test city (a daily wave)."""
    readings = []
    for device, device_type, _facility, _interval in DEVICES:
        base = _SAMPLE_VALUES.get(device_type.value, {})
        for step in range(48, 0, -1):
            wave = 1.0 + 0.3 * ((step % 12) / 12)
            values: dict[str, Value] = {k: (v * wave if isinstance(v, float) else v) for k, v in base.items()}
            if values:
                readings.append(Reading(device, 48 - step, now_ms - step * _HISTORY_STEP_MS, values))
    return readings


@dataclass
class PageStack:
    served: Served
    gateway: GatewayProcess
    mqtt: MqttSettings
    influx: InfluxSettings
    operator_key: str
    planner_key: str
    simulation: Simulation
    _seq: dict[str, int] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.served.base_url

    async def publish(self, device: str, values: dict[str, float]) -> None:
        """One reading of ``device``, timestamped now, published over MQTT as a device does (QoS 1)."""
        seq = self._seq[device] = self._seq.get(device, 1000) + 1
        payload = json.dumps({"dev": device, "seq": seq, "ts": int(time.time() * 1000), "m": values})
        topic = TopicScheme(self.mqtt.topic_root).device(device, TopicKind.READING)
        async with aiomqtt.Client(self.mqtt.host, self.mqtt.port, identifier=f"pub-{uuid.uuid4().hex[:8]}") as client:
            await client.publish(topic, payload, qos=1)


@contextlib.asynccontextmanager
async def page_stack(tmp_path: Path, influx: InfluxSettings, mqtt: MqttSettings) -> AsyncIterator[PageStack]:
    """The whole stack behind the page (see the module docstring); stopped in reverse order."""
    await asyncio.to_thread(write_readings, influx, history(int(time.time() * 1000)))
    account = mqtt.model_copy(update={"username": "api", "client_id": f"api-{mqtt.topic_root}"})
    settings: ApiSettings = api_settings(tmp_path, influx, commands=True, mqtt=account, stream_keepalive_s=1.0)
    operator, planner = create_key(settings, Role.OPERATOR), create_key(settings, Role.PLANNER)
    env = {
        "SMARTCITY_GATEWAY_MQTT__HOST": mqtt.host,
        "SMARTCITY_GATEWAY_MQTT__PORT": str(mqtt.port),
        "SMARTCITY_GATEWAY_MQTT__CLIENT_ID": f"gateway-{mqtt.topic_root}",
        "SMARTCITY_GATEWAY_MQTT__TOPIC_ROOT": mqtt.topic_root,
        "SMARTCITY_GATEWAY_INFLUX__URL": influx.url,
        "SMARTCITY_GATEWAY_INFLUX__DATABASE": influx.database,
        "SMARTCITY_GATEWAY_CITY_FILE": str(settings.city_file),
        "SMARTCITY_GATEWAY_BATCH_MS": "100",
    }
    gateway = GatewayProcess(tmp_path / "gateway", env)
    light = [d for d in api_city().devices if d.id == "light-n1"]
    sim = Simulation(SimulatorSettings(mqtt=mqtt, reconnect_min_s=0.2), api_city(), light, RunOptions(seed=1))
    stop = asyncio.Event()
    await asyncio.to_thread(gateway.start)
    simulating = asyncio.create_task(sim.run(stop), name="street-light")
    try:
        await sim.wait_connected(timeout_s=15)
        async with serving(settings) as served:
            async with asyncio.timeout(15):
                while served.state.latest.refreshed_ms is None:  # noqa: ASYNC110  # the cache has no event for it
                    await asyncio.sleep(0.05)
            yield PageStack(served, gateway, mqtt, influx, operator, planner, sim)
    finally:
        stop.set()
        await asyncio.wait_for(simulating, 15)
        await asyncio.to_thread(gateway.stop)


@dataclass
class PageWatch:
    """What went wrong on a page, as its user's console would show it."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    bad_answers: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def _failed(self, request: Request) -> None:
        self.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.bad_answers.append(f"{response.request.method} {response.url}: {response.status}")

    def problems(self) -> list[str]:
        return [*self.console_errors, *self.page_errors, *self.failed_requests, *self.bad_answers]


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def open_page(
    browser: Browser, url: str, *, key: str | None = None, size: tuple[int, int] = (1400, 1000)
) -> AsyncIterator[tuple[Page, PageWatch]]:
    """The city page at ``url`` (with ``key`` in its sessionStorage, as the key field leaves it), loaded and ready."""
    context = await browser.new_context(viewport={"width": size[0], "height": size[1]})
    if key is not None:
        await context.add_init_script(f"sessionStorage.setItem('smartcity.apiKey', {json.dumps(key)})")
    page = await context.new_page()
    watch = PageWatch()
    watch.attach(page)
    try:
        await page.goto(url)
        await page.wait_for_selector("body[data-ready='true']", timeout=15_000)
        yield page, watch
    finally:
        await context.close()


async def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save ``test-artifacts/city-page/<name>.png`` (the viewport only with ``full_page=False``)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    return path


async def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (axe injected from tests/support/axe/)."""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
