"""The status screen's figures and its plain line, from one look at a stack."""

from __future__ import annotations

from rich.console import Console

from smartcity.up_screen import StackView, render
from smartcity.up_status import StatusLine


def _view(**changes: object) -> StackView:
    values: dict[str, object] = {
        "services": {"influxd": True, "mosquitto": True, "gateway": True, "api": True},
        "gateway": StatusLine(
            elapsed_s=30, totals={"received": 1200, "points written": 2400}, rates={"received": 40.0}, series=80
        ),
        "dead_letters": {"unknown-device": 3, "malformed-json": 1},
        "devices_online": 95,
        "rollup_lag_s": 4000.0,
        "quality_lag_s": 30.0,
        "open_flags": 2.0,
        "urls": [("city page", "http://127.0.0.1:8080/")],
    }
    return StackView(**(values | changes))  # type: ignore[arg-type]


def test_the_figures_and_the_plain_line() -> None:
    view = _view()
    assert view.healthy
    assert view.figures() == [
        ("devices online", "95"),
        ("received", "1,200 (40/s)"),
        ("points written", "2,400"),
        ("series in InfluxDB", "80"),
        ("dead letters by reason", "malformed-json 1, unknown-device 3"),
        ("roll-up lag", "67 min"),
        ("quality lag", "30 s"),
        ("open quality flags", "2"),
    ]
    assert view.plain().startswith("up 30 s: all services healthy; devices online 95, received 1,200 (40/s),")


def test_a_service_that_does_not_answer_is_shown_and_unknowns_are_dashes() -> None:
    view = _view(
        services={"influxd": False, "api": True},
        devices_online=None,
        rollup_lag_s=None,
        quality_lag_s=7200.0,
        open_flags=None,
        dead_letters={},
    )
    assert not view.healthy
    assert view.plain().startswith("up 30 s: NOT healthy: influxd;")
    figures = dict(view.figures())
    assert (figures["devices online"], figures["roll-up lag"], figures["quality lag"]) == ("-", "-", "2.0 h")
    assert figures["dead letters by reason"] == "none"
    console = Console(record=True, width=100)
    console.print(render(view, "smartcity up: 30 s"))
    text = console.export_text()
    for expected in ("smartcity up: 30 s", "influxd", "not answering", "ready", "http://127.0.0.1:8080/"):
        assert expected in text
