"""``run(settings)``: the gateway process. Owns its clients in one ``async with`` and its workers in one TaskGroup.

Shutdown (SIGTERM/SIGINT or ``stop`` set): stop reading from the broker, seal the open batch, wait until every
batch is durable and acknowledged, write device health, send DISCONNECT (the session stays on the broker), exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time

from gateway.anchors import AnchorStore
from gateway.batching import AckLedger
from gateway.broker_session import BrokerError, BrokerSession
from gateway.clock import ClockGuard, InfluxDate
from gateway.intake import Intake, IntakeParts
from gateway.link import BrokerLink
from gateway.metrics import GatewayMetrics
from gateway.observability import HttpEndpoints, serve_http
from gateway.pipeline import Pipeline
from gateway.settings import GatewaySettings
from gateway.spool import Spool
from gateway.writer import BatchWriter
from smartcity.backoff import Backoff
from smartcity.city.directory import DeviceDirectory
from smartcity.city.load import load_city
from smartcity.city.watch import follow_city
from smartcity.client_ids import gateway_client_id
from smartcity.contract.parse import ParseLimits
from smartcity.contract.topics import UPLINK_KINDS, TopicScheme
from smartcity.influx.client import InfluxClient
from smartcity.influx.errors import InfluxError
from smartcity.stopsignals import stop_on_signals

log = logging.getLogger(__name__)

_DRAIN_TIMEOUT_S = 30.0
_REPLAY_RETRY_S = 1.0
_STABLE_S = 30.0


def subscription_filters(scheme: TopicScheme, shared_group: str | None) -> list[str]:
    """One filter per subscribed kind, all devices; ``$share/<group>/`` in front for a shared subscription."""
    filters = [scheme.device_filter(kind) for kind in UPLINK_KINDS]
    return [f"$share/{shared_group}/{topic}" for topic in filters] if shared_group else filters


def parse_limits(settings: GatewaySettings) -> ParseLimits:
    limits = settings.limits
    return ParseLimits(
        max_payload_bytes=limits.max_payload_bytes,
        max_records=limits.max_records,
        max_future_ms=limits.max_future_s * 1000,
        max_past_ms=limits.max_past_s * 1000,
    )


async def run(settings: GatewaySettings, *, stop: asyncio.Event | None = None) -> None:
    """Run the gateway until ``stop`` is set or SIGTERM/SIGINT arrives."""
    with stop_on_signals(stop or asyncio.Event()) as stopping:
        await _run(settings, stopping)


async def _run(settings: GatewaySettings, stop: asyncio.Event) -> None:
    directory = DeviceDirectory.from_city(load_city(settings.city_file))
    scheme = TopicScheme(settings.mqtt.topic_root)
    metrics = GatewayMetrics()
    link = BrokerLink()
    client_id = gateway_client_id(
        settings.mqtt.client_id, settings.shared_group, hostname=socket.gethostname(), spool_dir=settings.spool_dir
    )
    parts = IntakeParts.wire(
        scheme, directory, link, metrics, gateway=client_id, excerpt_bytes=settings.limits.dead_letter_excerpt_bytes
    )
    clock = ClockGuard(max_offset_ms=settings.clock_max_offset_s * 1000)
    metrics.clock_offset.set_function(lambda: (clock.offset_ms or 0) / 1000)
    async with (
        InfluxClient(settings.influx) as influx,
        Spool(settings.spool_dir) as spool,
        AnchorStore(settings.spool_dir, max_age_ms=settings.limits.max_past_s * 1000) as anchors,
        InfluxDate(settings.influx.url, timeout_s=settings.influx.timeout_s) as influx_date,
    ):
        pipeline = Pipeline(
            writer=BatchWriter(influx, metrics, retry_s=settings.write_retry_s),
            replay_writer=BatchWriter(influx, metrics, retry_s=_REPLAY_RETRY_S),
            spool=spool,
            ledger=parts.ledger,
            dead_letters=parts.dead_letters,
            health=parts.health,
            metrics=metrics,
            flow=link,
            max_inflight=settings.max_inflight_batches,
            health_interval_s=settings.health_interval_s,
            ping=influx.ping,
            anchors=anchors,
        )
        intake = parts.intake(
            limits=parse_limits(settings),
            batch_size=settings.batch_size,
            batch_ms=settings.batch_ms,
            on_sealed=pipeline.submit,
            anchors=anchors,
        )
        endpoints = HttpEndpoints(
            metrics.registry,
            lambda: {
                "broker": "ok" if link.connected else "down",
                "influxdb": pipeline.store_state,
                "clock": clock.readiness(),
            },
        )
        port_file = settings.spool_dir / "http.port"
        async with serve_http(endpoints, settings.http_host, settings.http_port, port_file) as port:
            log.info(
                "gateway %s started: %d devices, broker %s:%d, InfluxDB %s/%s, spool %s (%d points), http port %d",
                client_id,
                len(directory),
                settings.mqtt.host,
                settings.mqtt.port,
                settings.influx.url,
                settings.influx.database,
                spool.path,
                spool.depth,
                port,
            )
            async with asyncio.TaskGroup() as tasks:
                create_task = tasks.create_task(_create_database(influx), name="create-database")
                # Reload this replica's device health before writing any; check our clock before connecting.
                shared = settings.shared_group is not None
                side_tasks = [
                    tasks.create_task(parts.health.restore(influx, replica=client_id, shared=shared), name="health"),
                    tasks.create_task(
                        clock.run(influx_date, parts.health.fleet_clock_offset, interval_s=settings.health_interval_s),
                        name="clock-guard",
                    ),
                    tasks.create_task(
                        follow_city(
                            settings.city_file,
                            DeviceDirectory.from_city,
                            directory.adopt,
                            interval_s=settings.city_reload_s,
                        ),
                        name="city-watch",
                    ),
                ]
                pipeline_task = tasks.create_task(pipeline.run(), name="pipeline")
                broker_task = tasks.create_task(
                    _broker_loop(settings, client_id, scheme, link, parts.ledger, intake, metrics, clock), name="broker"
                )
                await stop.wait()
                link.pause_reading()
                intake.seal()
                try:
                    await asyncio.wait_for(pipeline.drain(), _DRAIN_TIMEOUT_S)
                except TimeoutError:
                    log.warning(
                        "shutdown: batches still not durable after %.0f s; they are redelivered", _DRAIN_TIMEOUT_S
                    )
                await pipeline.write_health()
                parts.dead_letters.flush_log()
                broker_task.cancel()
                pipeline_task.cancel()
                for task in (*side_tasks, create_task):
                    task.cancel()
    log.info("gateway %s stopped: %d points spooled for the next start", client_id, spool.depth)


async def _create_database(influx: InfluxClient) -> None:
    """Create the database when missing; InfluxDB may come up after the gateway (writes spool until then)."""
    backoff = Backoff(0.5, 30.0)
    while True:
        try:
            await influx.create_database()
            return
        except InfluxError as exc:
            delay = backoff.next_delay()
            log.warning("cannot create the InfluxDB database yet (%s); retrying in %.1f s", exc, delay)
            await asyncio.sleep(delay)


async def _broker_loop(
    settings: GatewaySettings,
    client_id: str,
    scheme: TopicScheme,
    link: BrokerLink,
    ledger: AckLedger,
    intake: Intake,
    metrics: GatewayMetrics,
    clock: ClockGuard,
) -> None:
    """Connect, subscribe, watch the connection; reconnect with jittered backoff. No connection while the
    gateway's own clock is known to be wrong (see :mod:`gateway.clock`): the broker keeps the messages.

    The backoff is reset only when a connection made progress (it acknowledged messages) or stayed up for
    :data:`_STABLE_S`: not on CONNACK (a session taken over at once would flap) and not on SUBACK (which queues behind
    a backlog)."""
    backoff = Backoff(0.2, 30.0)
    filters = subscription_filters(scheme, settings.shared_group)
    watchdog_s = settings.watchdog_s or 3.0 * settings.mqtt.keepalive_s
    connected_before = False
    while True:
        # Messages of the next connection must never be acked with ids of the last one: seal what was read
        # on it and start a new generation before the broker can deliver anything.
        intake.seal()
        ledger.new_generation()
        await clock.wait_trusted()
        session = BrokerSession(
            settings.mqtt,
            client_id=client_id,
            sink=intake.on_message,
            session_expiry_s=settings.session_expiry_s,
            receive_maximum=settings.receive_maximum,
        )
        connected_at = time.monotonic()
        try:
            link.attach(session)
            session_present = await session.connect()
            connected_at = time.monotonic()
            metrics.broker_connected.set(1)
            await session.subscribe(filters, settings.qos)
            log.info(
                "connected to %s:%d (session present: %s)", settings.mqtt.host, settings.mqtt.port, session_present
            )
            if connected_before and not session_present:
                log.warning(
                    "the broker no longer had our session (expired, or restarted without persistence): "
                    "messages queued for it while we were away are gone"
                )
            connected_before = True
            reason = await _watch(session, watchdog_s, clock)
            log.warning("broker connection lost: %s", reason)
        except BrokerError as exc:
            log.warning("broker %s:%d: %s", settings.mqtt.host, settings.mqtt.port, exc)
        except asyncio.CancelledError:
            await session.disconnect()
            raise
        finally:
            metrics.broker_connected.set(0)
            if link.acked or time.monotonic() - connected_at >= _STABLE_S:
                backoff.reset()
            link.detach()
            session.close("reconnecting")
        await asyncio.sleep(backoff.next_delay())


async def _watch(session: BrokerSession, watchdog_s: float, clock: ClockGuard | None = None) -> str:
    """Return when the connection is lost; close it when nothing arrived for ``watchdog_s`` (half-open);
    disconnect when the gateway's clock is found wrong."""
    closed = asyncio.ensure_future(session.wait_closed())
    try:
        while True:
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(asyncio.shield(closed), timeout=1.0)
            if clock is not None and not clock.trusted:
                await session.disconnect()
                return "the gateway's clock is wrong: not taking messages until it is right"
            if session.reading and time.monotonic() - session.last_rx > watchdog_s:
                session.close(f"watchdog: nothing received for {watchdog_s:.0f} s")
    finally:
        closed.cancel()
