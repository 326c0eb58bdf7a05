"""The live status screen of a local stack (``smartcity up`` in a terminal, ``smartcity status``).

One look (:class:`StackProbe.look`) asks each piece cheap questions: every HTTP child's ``/readyz``, InfluxDB's
``/ping``, whether the broker accepts connections, the gateway's, the roll-up worker's and the quality worker's
``/metrics`` (counters become rates between looks), and the device health the gateway keeps in InfluxDB (devices
online). :func:`render` draws it with rich; :meth:`StackView.plain` is one line for a log file or a pipe.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from smartcity.health import read_device_health
from smartcity.influx.client import InfluxClient
from smartcity.influx.errors import InfluxError
from smartcity.localservices.process import tcp_accepts
from smartcity.settings import InfluxSettings
from smartcity.up_state import StackState
from smartcity.up_status import StatusLine, StatusProbe

HTTP_CHILDREN = ("gateway", "rollup", "quality", "api")


def _samples(port: int | None) -> dict[str, list[tuple[dict[str, str], float]]]:
    """A child's ``/metrics`` samples by name (empty when it has no port or does not answer)."""
    if port is None:
        return {}
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2.0).text
    except httpx.HTTPError:
        return {}
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def _ready(url: str, ok: int = 200) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == ok
    except httpx.HTTPError:
        return False


async def _online(influx_url: str, database: str) -> int | None:
    try:
        async with InfluxClient(InfluxSettings(url=influx_url, database=database, timeout_s=3.0)) as influx:
            health = await read_device_health(influx)
    except InfluxError:
        return None
    return sum(1 for device in health.values() if device.online)


@dataclass(frozen=True, slots=True)
class StackView:
    """One look at the stack."""

    services: dict[str, bool]
    """name -> healthy, in start order."""
    gateway: StatusLine
    dead_letters: dict[str, float]
    """reason -> count (only reasons seen)."""
    devices_online: int | None
    rollup_lag_s: float | None
    quality_lag_s: float | None
    open_flags: float | None
    urls: list[tuple[str, str]] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(self.services.values())

    def figures(self) -> list[tuple[str, str]]:
        """(what, value) rows: the gateway's totals and rates, then the rest."""
        rows = list(self.gateway.rows())
        rows.insert(0, ("devices online", f"{self.devices_online:,}" if self.devices_online is not None else "-"))
        reasons = ", ".join(f"{reason} {count:,.0f}" for reason, count in sorted(self.dead_letters.items()))
        rows.append(("dead letters by reason", reasons or "none"))
        rows.append(("roll-up lag", _duration(self.rollup_lag_s)))
        rows.append(("quality lag", _duration(self.quality_lag_s)))
        rows.append(("open quality flags", f"{self.open_flags:,.0f}" if self.open_flags is not None else "-"))
        return rows

    def plain(self) -> str:
        down = [name for name, ok in self.services.items() if not ok]
        health = "all services healthy" if not down else "NOT healthy: " + ", ".join(down)
        figures = ", ".join(f"{what} {value}" for what, value in self.figures())
        return f"up {self.gateway.elapsed_s:.0f} s: {health}; {figures}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class StackProbe:
    """Looks at a stack described by its :class:`~smartcity.up_state.StackState`; keeps the previous look for
    rates."""

    state: StackState
    _gateway: StatusProbe = field(init=False)

    def __post_init__(self) -> None:
        self._gateway = StatusProbe(self.state.ports.get("gateway"), self.state.influx_url, self.state.database)

    def look(self) -> StackView:
        state = self.state
        services = {
            "influxd": _ready(f"{state.influx_url}/ping", ok=204),
            "mosquitto": tcp_accepts("127.0.0.1", state.mqtt_port),
        }
        for name in HTTP_CHILDREN:
            if name in state.ports:
                services[name] = _ready(f"http://127.0.0.1:{state.ports[name]}/readyz")
        gateway_samples = _samples(state.ports.get("gateway"))
        dead = {
            labels.get("reason", "?"): value
            for labels, value in gateway_samples.get("smartcity_gateway_rejected_total", [])
            if value > 0
        }
        rollup = _samples(state.ports.get("rollup"))
        quality = _samples(state.ports.get("quality"))
        flags = quality.get("smartcity_quality_open_flags")
        return StackView(
            services=services,
            gateway=self._gateway.look(),
            dead_letters=dead,
            devices_online=asyncio.run(_online(state.influx_url, state.database)) if services["influxd"] else None,
            rollup_lag_s=_first(rollup.get("smartcity_rollup_lag_seconds")),
            quality_lag_s=_first(quality.get("smartcity_quality_lag_seconds")),
            open_flags=sum(value for _labels, value in flags) if flags is not None else None,
            urls=state.urls(),
        )


def _first(samples: list[tuple[dict[str, str], float]] | None) -> float | None:
    return samples[0][1] if samples else None


def render(view: StackView, title: str) -> RenderableType:
    """The screen: services with their health beside the figures, then the URLs to open."""
    services = Table(show_header=True, expand=False)
    services.add_column("service")
    services.add_column("health")
    for name, ok in view.services.items():
        services.add_row(name, "[green]ready[/green]" if ok else "[red]not answering[/red]")
    figures = Table(show_header=True)
    figures.add_column("what")
    figures.add_column("value", justify="right")
    for what, value in view.figures():
        figures.add_row(what, value)
    urls = Table(show_header=True)
    urls.add_column("open")
    urls.add_column("URL")
    for what, url in view.urls:
        urls.add_row(what, url)
    side_by_side = Table.grid(padding=(0, 2))  # fits a 24-line terminal
    side_by_side.add_row(services, figures)
    return Group(Text(title, style="bold"), side_by_side, urls)
