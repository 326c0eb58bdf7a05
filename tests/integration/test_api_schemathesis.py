"""Schemathesis against the real process (``smartcity api`` under uvicorn) on the fixture influxd with data in it:
every operation of the OpenAPI document, generated requests, no 5xx and no answer that breaks the schema.
Bounded to a few dozen examples per operation (about a minute in all)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from services.api.keys import Role
from smartcity.city.model import DeviceType
from smartcity.localservices import MosquittoProcess
from tests.support.api_support import api_settings, create_key, influxql
from tests.support.filled_city import FilledCity


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def served(
    filled_city: FilledCity, mosquitto: MosquittoProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """The API as its own process on a free port over the suite's filled city: (base URL, admin key). The API
    only reads InfluxDB (keys live in its own SQLite file), so the shared data set stays as it was."""
    tmp = tmp_path_factory.mktemp("api")
    influx = filled_city.influx
    config = api_settings(tmp, influx, city_file=tmp / "filled-city.json")
    config.city_file.write_text(filled_city.city.model_dump_json(), encoding="utf-8")
    key = create_key(config, Role.ADMIN)
    port = _free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("SMARTCITY_")}
    env |= {
        "SMARTCITY_API_INFLUX__URL": influx.url,
        "SMARTCITY_API_INFLUX__DATABASE": influx.database,
        "SMARTCITY_API_CITY_FILE": str(config.city_file),
        "SMARTCITY_API_STATE_FILE": str(config.state_file),
        "SMARTCITY_API_PORT": str(port),
        "SMARTCITY_API_LOG_LEVEL": "WARNING",
        # schemathesis also calls without a key and with bad ones; the limiter has its own test
        "SMARTCITY_API_PUBLIC_RATE_PER_S": "100000",
        "SMARTCITY_API_PUBLIC_BURST": "100000",
        # commands go to the session broker, under a topic root of their own
        "SMARTCITY_API_COMMANDS": "true",
        "SMARTCITY_API_MQTT__HOST": "127.0.0.1",
        "SMARTCITY_API_MQTT__PORT": str(mosquitto.port),
        "SMARTCITY_API_MQTT__TOPIC_ROOT": f"schema{port}",
        "SMARTCITY_API_MQTT__CLIENT_ID": f"schema-api-{port}",
    }
    log = (tmp / "api.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "smartcity.cli", "api"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (tmp / "api.log").read_text()
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.1)
        _wait_for_the_broker_link(base, key, filled_city)
        yield base, key
    finally:
        process.terminate()
        try:
            assert process.wait(timeout=15) == 0, "the API must exit 0 on SIGTERM"
        finally:
            log.close()
        assert "Traceback" not in (tmp / "api.log").read_text()


def _wait_for_the_broker_link(base: str, key: str, filled_city: FilledCity) -> None:
    """Commands answer 503 until the API's broker session is up (a second or less after start)."""
    light = next(d for d in filled_city.city.devices if d.type is DeviceType.STREET_LIGHT)
    command = {"name": "set_dim_level", "args": {"level": 50}}
    deadline = time.monotonic() + 15
    while True:
        answer = httpx.post(
            f"{base}/v1/devices/{light.id}/commands", json=command, headers={"Authorization": f"Bearer {key}"}
        )
        if answer.status_code != 503:
            assert answer.status_code == 202, answer.text
            return
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.1)


ENDLESS = {"/v1/stream"}
"""An event stream never ends, so no generated request to it returns: tests/integration/test_api_stream.py
covers it (its refusals, scopes and events) instead."""
SEMANTIC = [schemathesis.checks.positive_data_acceptance]
"""Left out: it expects every schema-valid request to be accepted, but some refusals are about meaning, not shape
(start after end, not exactly one of device/facility/district, too many points, a cursor the API never issued,
an id that does not exist is a 404 it allows): those answer 422 problem details, which every other check still
validates against the schema."""
EXAMPLES = {GenerationMode.POSITIVE: 40, GenerationMode.NEGATIVE: 15}


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda mode: mode.value)
def test_every_operation_keeps_to_its_schema(served: tuple[str, str], mode: GenerationMode) -> None:
    """Each operation in turn (schemathesis's pytest loader does not run under pytest 9, so the operations are
    walked here with one Hypothesis run each)."""
    base, key = served
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    headers = {"Authorization": f"Bearer {key}"}
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    assert len(operations) >= 14

    for operation in operations:
        if operation.path in ENDLESS:
            continue
        if mode is GenerationMode.NEGATIVE and not (operation.query or operation.path_parameters or operation.body):
            continue  # nothing to make invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES[mode], deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(base_url=base, headers=headers, excluded_checks=SEMANTIC)

        check()


def test_the_process_serves_the_filled_city(served: tuple[str, str], filled_city: FilledCity) -> None:
    base, key = served
    headers = {"Authorization": f"Bearer {key}"}
    districts = httpx.get(f"{base}/v1/districts", params={"limit": 100}).json()["items"]
    assert [d["id"] for d in districts] == [d.id for d in filled_city.city.districts]
    device = next(d for d in filled_city.city.devices if d.type is DeviceType.AIR_QUALITY)
    start_ms = filled_city.end_ms - 3 * 3_600_000
    params: dict[str, str | float] = {"device": device.id, "metric": "pm25", "resolution": "raw"}
    params |= {"start": start_ms / 1000, "end": filled_city.end_ms / 1000}
    history = httpx.get(f"{base}/v1/history", params=params, headers=headers)
    direct = influxql(
        filled_city.influx,
        'SELECT "pm25" FROM "air_quality" WHERE "device" = $device AND time >= $start AND time < $end',
        {"device": device.id, "start": start_ms * 1_000_000, "end": filled_city.end_ms * 1_000_000},
    ).json()["results"][0]["series"][0]["values"]
    assert [[round(_ms(p["time"])), p["value"]] for p in history.json()["points"]] == direct
    latest = httpx.get(f"{base}/v1/latest", params={"device": device.id, "metric": "pm25"}, headers=headers)
    assert latest.json()["items"][0]["value"] == direct[-1][1]
    metrics = httpx.get(f"{base}/metrics").text
    assert 'smartcity_api_requests_total{method="GET",route="/v1/districts",status="200"}' in metrics


def _ms(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000
