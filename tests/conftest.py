"""Shared fixtures: a private Mosquitto and a private influxd per test session, started from the Debian binaries
on free loopback ports (see docs/TESTING.md), plus a unique topic root and database per test.

Fixture types for annotations: ``MosquittoProcess``, ``InfluxdProcess``, ``MqttSettings``, ``InfluxSettings``
and ``Callable[..., MosquittoProcess]`` / ``Callable[..., InfluxdProcess]`` for the factories.
"""

from __future__ import annotations

import itertools
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest

from smartcity.localservices import InfluxdProcess, MosquittoProcess
from smartcity.settings import InfluxSettings, MqttSettings

if TYPE_CHECKING:
    from tests.support.filled_city import FilledCity

FORBIDDEN_PORT = 1883
"""The machine's own broker listens here; a test that reaches it would pass or fail for reasons of its own."""


class ForbiddenConnectionError(RuntimeError):
    """A test tried to connect to port 1883 instead of the fixture broker."""


def _refuse_port_1883(event: str, args: tuple[Any, ...]) -> None:
    # Audit hooks see every socket.connect of this process, including paho's thread and asyncio transports,
    # so a forgotten `port=mosquitto.port` (MqttSettings defaults to 1883) fails loudly instead of silently
    # talking to the machine's broker.
    if event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple) and len(address) >= 2 and address[1] == FORBIDDEN_PORT:
            raise ForbiddenConnectionError(
                f"tests must not connect to port {FORBIDDEN_PORT} ({address[0]}): use the mosquitto fixture's port"
            )


def pytest_configure(config: pytest.Config) -> None:
    sys.addaudithook(_refuse_port_1883)


# -- servers -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoProcess]:
    """The session's broker: anonymous, no persistence, 127.0.0.1 and [::1] on one free port."""
    with MosquittoProcess(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxdProcess]:
    """The session's influxd. Never kill or restart it in a test: use ``influxd_factory`` for that."""
    with InfluxdProcess(tmp_path_factory.mktemp("influxd")) as server:
        yield server


@pytest.fixture(scope="session")
def filled_city(influxd: InfluxdProcess) -> FilledCity:
    """A generated city with three simulated days of readings in database ``filled_city`` of the session influxd,
    cached between runs (docs/TESTING.md, "The filled city"). Read only: write into ``influx_settings`` instead."""
    from tests.support.filled_city import load_filled_city  # imported here: only sessions that use it pay

    return load_filled_city(influxd.url)


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., MosquittoProcess]]:
    """Starts extra brokers (``**kwargs`` of :class:`MosquittoProcess`, e.g. ``persistence=True``); each gets its
    own dir under the test's tmp_path unless ``workdir`` is given. All are stopped at teardown."""
    yield from _server_factory(MosquittoProcess, tmp_path, "mosquitto")


@pytest.fixture
def influxd_factory(tmp_path: Path) -> Iterator[Callable[..., InfluxdProcess]]:
    """Starts extra influxd servers (for fault tests that kill or restart them); all stopped at teardown."""
    yield from _server_factory(InfluxdProcess, tmp_path, "influxd")


_Server = TypeVar("_Server", MosquittoProcess, InfluxdProcess)


def _server_factory(
    server_class: Callable[..., _Server], tmp_path: Path, name: str
) -> Iterator[Callable[..., _Server]]:
    # Both factory fixtures: number the default workdirs, remember every server, stop them all at teardown.
    started: list[_Server] = []
    counter = itertools.count(1)

    def start(**kwargs: Any) -> _Server:
        workdir = kwargs.pop("workdir", None) or tmp_path / f"{name}-{next(counter)}"
        server = server_class(workdir, **kwargs)
        started.append(server)
        return server.start()

    yield start
    _stop_all(started)


def _stop_all(processes: list[MosquittoProcess] | list[InfluxdProcess]) -> None:
    errors: list[Exception] = []
    for process in processes:
        try:
            process.stop()
        except Exception as exc:  # keep stopping the others; report every failure below
            errors.append(exc)
    if errors:
        raise ExceptionGroup("stopping servers started by the test failed", errors)


# -- per-test names ------------------------------------------------------------------------------------------------
@pytest.fixture
def topic_root() -> str:
    """A unique first topic level (``t3f9a1c0``), so tests sharing the session broker never see each other."""
    return f"t{uuid.uuid4().hex[:7]}"


@pytest.fixture
def mqtt_settings(mosquitto: MosquittoProcess, topic_root: str) -> MqttSettings:
    """The session broker over IPv6, under this test's topic root."""
    return MqttSettings(host="::1", port=mosquitto.port, topic_root=topic_root)


@pytest.fixture
def influx_settings(influxd: InfluxdProcess) -> Iterator[InfluxSettings]:
    """A database of its own on the session influxd: created before the test, dropped after it."""
    settings = InfluxSettings(url=influxd.url, database=f"test_{uuid.uuid4().hex[:12]}")
    _influxql(influxd.url, f'CREATE DATABASE "{settings.database}"')
    yield settings
    _influxql(influxd.url, f'DROP DATABASE "{settings.database}"')


def _influxql(url: str, statement: str) -> None:
    # Plain synchronous httpx: fixtures must not depend on the adapter under test, nor on an event loop.
    with httpx.Client(base_url=url, trust_env=False, timeout=30.0) as client:
        response = client.post("/query", data={"q": statement})
    response.raise_for_status()
    results = response.json().get("results", [])
    errors = [result["error"] for result in results if "error" in result]
    if errors:
        raise RuntimeError(f"{statement!r} failed: {errors}")
