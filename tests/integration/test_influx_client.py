"""InfluxClient against the fixture influxd: round trips, bind parameters, real error texts, database lifecycle."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from gateway.metrics import GatewayMetrics
from gateway.writer import BatchWriter
from smartcity.backoff import Backoff
from smartcity.influx.client import InfluxClient, or_missing_database, quote_identifier
from smartcity.influx.errors import (
    FieldConflict,
    InfluxQueryError,
    InfluxRejected,
    InfluxTooLarge,
    InfluxUnavailable,
    RejectKind,
)
from smartcity.localservices import InfluxdProcess, free_port
from smartcity.settings import InfluxSettings

T0 = 1_700_000_000_000


async def test_ping(influx_settings: InfluxSettings) -> None:
    async with InfluxClient(influx_settings) as client:
        assert await client.ping() is True


async def test_ping_and_write_when_nothing_listens() -> None:
    settings = InfluxSettings(url=f"http://127.0.0.1:{free_port()}", database="nowhere", timeout_s=2)
    async with InfluxClient(settings) as client:
        assert await client.ping() is False
        with pytest.raises(InfluxUnavailable, match="cannot reach InfluxDB") as excinfo:
            await client.write(b"m v=1")
    assert excinfo.value.status is None


async def test_write_query_round_trip(influx_settings: InfluxSettings) -> None:
    body = (
        f'air,district=north,device=d1 no2=21.5,ok=true,label="a b",n=3i {T0}\n'
        f'air,district=south,device=d2 no2=40.25,ok=false,label="c",n=4i {T0 + 1}\n'
    ).encode()
    async with InfluxClient(influx_settings) as client:
        await client.write(body)
        (series,) = await client.query('SELECT * FROM "air" ORDER BY time')
    assert series.name == "air"
    assert series.records() == [
        {"time": T0, "device": "d1", "district": "north", "label": "a b", "n": 3, "no2": 21.5, "ok": True},
        {"time": T0 + 1, "device": "d2", "district": "south", "label": "c", "n": 4, "no2": 40.25, "ok": False},
    ]


async def test_bind_parameters_select_and_cannot_inject(influx_settings: InfluxSettings) -> None:
    lines = [
        f"air,district={d} no2={v} {T0 + i}" for i, (d, v) in enumerate([("north", 10), ("south", 30), ("north", 50)])
    ]
    async with InfluxClient(influx_settings) as client:
        await client.write("\n".join(lines).encode())
        found = await client.query(
            'SELECT "no2" FROM "air" WHERE "district" = $d AND "no2" > $min', {"d": "north", "min": 20}
        )
        hostile = await client.query('SELECT "no2" FROM "air" WHERE "district" = $d', {"d": "north' OR '1'='1"})
        grouped = await client.query('SELECT count("no2") FROM "air" WHERE time >= $t GROUP BY "district"', {"t": T0})
    assert [series.values for series in found] == [[[T0 + 2, 50.0]]]
    assert hostile == []  # the whole string is one value: no district is called that
    assert {series.tags["district"]: series.values[0][1] for series in grouped} == {"north": 2, "south": 1}


async def test_epoch_controls_timestamp_units(influx_settings: InfluxSettings) -> None:
    async with InfluxClient(influx_settings) as client:
        await client.write(f"m v=1 {T0 // 1000}".encode(), precision="s")
        (series,) = await client.query('SELECT "v" FROM "m"', epoch="s")
    assert series.values == [[T0 // 1000, 1.0]]


async def test_partial_write_is_rejected_with_influxdbs_text_and_keeps_good_points(
    influx_settings: InfluxSettings,
) -> None:
    async with InfluxClient(influx_settings) as client:
        await client.write(f"m v=1 {T0}".encode())
        with pytest.raises(InfluxRejected) as excinfo:
            # The second point changes the field's type: InfluxDB keeps the first and third, drops the second.
            await client.write(f'm v=2 {T0 + 1}\nm v="text" {T0 + 2}\nm v=4 {T0 + 3}'.encode())
        (series,) = await client.query('SELECT count("v") FROM "m"')
    error = excinfo.value
    assert error.status == 400
    assert "partial write" in error.message
    assert (error.kind, error.dropped, error.partial) == (RejectKind.FIELD_TYPE_CONFLICT, 1, True)
    assert error.conflict == FieldConflict(measurement="m", field="v", got="string", want="float")
    assert series.values[0][1] == 3


async def test_unparsable_line_protocol_is_rejected(influx_settings: InfluxSettings) -> None:
    async with InfluxClient(influx_settings) as client:
        with pytest.raises(InfluxRejected, match="unable to parse") as excinfo:
            await client.write(b"m v=\nq w e")
    error = excinfo.value
    assert (error.kind, error.partial, error.complete) == (RejectKind.PARSE_ERROR, False, True)
    assert [line.text for line in error.refused] == ["m v=", "q w e"]


async def test_unparsable_lines_among_good_ones_are_named_and_the_good_ones_kept(
    influx_settings: InfluxSettings,
) -> None:
    async with InfluxClient(influx_settings) as client:
        with pytest.raises(InfluxRejected) as excinfo:
            await client.write(f"m v=1 {T0}\nm v=\nm v=2 {T0 + 1}\nit's: bad".encode())
        (series,) = await client.query('SELECT count("v") FROM "m"')
    error = excinfo.value
    assert error.message.startswith("partial write: unable to parse 'm v=': missing field value\n")
    assert (error.kind, error.partial, error.complete) == (RejectKind.PARSE_ERROR, True, True)
    assert [line.text for line in error.refused] == ["m v=", "it's: bad"]
    assert series.values[0][1] == 2


# -- points beyond the retention policy (a 1 h policy, points 2 h old) ---------------------------------------------
async def _one_hour_default_policy(client: InfluxClient) -> int:
    """Make a 1 h retention policy the database's default; return a time (ms) 2 h ago."""
    database = quote_identifier(client.settings.database)
    await client.query(f'CREATE RETENTION POLICY "hour" ON {database} DURATION 1h REPLICATION 1 DEFAULT')
    return int(time.time() * 1000) - 2 * 3_600_000


def _readings(count: int, start_ms: int, first: int = 0) -> tuple[list[str], list[str]]:
    """Two points per reading, as the gateway writes them."""
    lines, topics = [], []
    for n in range(first, first + count):
        device = f"d{n % 40}"
        lines += [
            f"air,device={device} no2={n % 90}.5,seq={n}i {start_ms + n}",
            f"vitals,device={device} bat=9 {start_ms + n}",
        ]
        topics += [f"c/v1/dev/{device}/reading"] * 2
    return lines, topics


class _CountingStore:
    def __init__(self, client: InfluxClient) -> None:
        self.client = client
        self.writes = 0

    async def write(self, body: bytes) -> None:
        self.writes += 1
        await self.client.write(body)


def _writer(store: _CountingStore) -> BatchWriter:
    return BatchWriter(store, GatewayMetrics(), retry_s=5.0, backoff=lambda: Backoff(0.01, 0.1))


async def test_points_beyond_retention_are_a_classified_partial_write(influx_settings: InfluxSettings) -> None:
    async with InfluxClient(influx_settings) as client:
        old = await _one_hour_default_policy(client)
        with pytest.raises(InfluxRejected) as excinfo:
            await client.write("\n".join(f"m v={i} {old + i}" for i in range(5)).encode())
    assert excinfo.value.message == "partial write: points beyond retention policy dropped=5"
    assert (excinfo.value.kind, excinfo.value.dropped, excinfo.value.partial) == (RejectKind.BEYOND_RETENTION, 5, True)


async def test_2000_old_readings_cost_one_write_not_7999(influx_settings: InfluxSettings) -> None:
    async with InfluxClient(influx_settings) as client:
        lines, topics = _readings(2000, await _one_hour_default_policy(client))
        store = _CountingStore(client)
        refused = await _writer(store).write(lines, topics)
        stored = await client.query('SELECT count("no2") FROM "air"')
    assert store.writes == 1
    assert len(refused) == 4000
    assert {r.kind for r in refused} == {RejectKind.BEYOND_RETENTION}
    assert [(r.line, r.topic) for r in refused] == list(zip(lines, topics, strict=True))
    assert stored == []


async def test_old_recent_conflicting_and_unparsable_points_in_one_batch(influx_settings: InfluxSettings) -> None:
    # 1.6.7 reports one reason per answer (a conflict hides old points and unparsable lines): the writer still
    # finds every refused point, keeps every other one, and never writes point by point.
    async with InfluxClient(influx_settings) as client:
        old_ms = await _one_hour_default_policy(client)
        old_lines, old_topics = _readings(300, old_ms)
        lines, topics = _readings(700, old_ms + 2 * 3_600_000, first=300)
        conflicting = [f'air,device=d1 no2="high" {old_ms + 2 * 3_600_000 + 5_000 + i}' for i in range(3)]
        unparsable = ["air,device=d2 no2= 5", "nonsense"]
        batch = old_lines + lines + conflicting + unparsable
        order = sorted(range(len(batch)), key=lambda i: (i * 7919) % len(batch))  # interleave them
        store = _CountingStore(client)
        refused = await _writer(store).write(
            [batch[i] for i in order], [(old_topics + topics + [""] * 5)[i] for i in order]
        )
        (air,) = await client.query('SELECT count("no2") FROM "air"')
        (vitals,) = await client.query('SELECT count("bat") FROM "vitals"')
    kinds = {r.line: r.kind for r in refused}
    assert kinds == (
        dict.fromkeys(old_lines, RejectKind.BEYOND_RETENTION)
        | dict.fromkeys(conflicting, RejectKind.FIELD_TYPE_CONFLICT)
        | dict.fromkeys(unparsable, RejectKind.PARSE_ERROR)
    )
    assert len(refused) == len(kinds)
    assert (air.values[0][1], vitals.values[0][1]) == (700, 700)
    # Bisection needs a write for each of the 605 refused points at least; each hidden reason costs a few, the
    # unparsable line with a 1970 timestamp (sorted among the old points) a time-ordered bisection of those.
    assert store.writes <= 50


async def test_bad_influxql_is_rejected(influx_settings: InfluxSettings) -> None:
    async with InfluxClient(influx_settings) as client:
        with pytest.raises(InfluxRejected, match="error parsing query"):
            await client.query("SELECT FROM WHERE")


async def test_statement_error_is_a_query_error(influx_settings: InfluxSettings) -> None:
    missing = influx_settings.model_copy(update={"database": f"{influx_settings.database}_missing"})
    async with InfluxClient(missing) as client:
        with pytest.raises(InfluxQueryError, match="database not found"):
            await client.query('SELECT * FROM "m"')


async def test_write_to_missing_database_is_retryable(influx_settings: InfluxSettings) -> None:
    missing = influx_settings.model_copy(update={"database": f"{influx_settings.database}_missing"})
    async with InfluxClient(missing) as client:
        with pytest.raises(InfluxUnavailable, match="database not found") as excinfo:
            await client.write(f"m v=1 {T0}".encode())
    assert excinfo.value.status == 404


async def test_create_and_drop_database(influx_settings: InfluxSettings) -> None:
    other = influx_settings.model_copy(update={"database": f"{influx_settings.database}-x"})
    async with InfluxClient(other) as client:
        await client.create_database()
        await client.create_database()  # idempotent
        await client.write(f"m v=1 {T0}".encode())
        assert await _databases(client) >= {other.database}
        await client.drop_database()
        assert other.database not in await _databases(client)


async def _databases(client: InfluxClient) -> set[str]:
    (series,) = await client.query("SHOW DATABASES")
    return {str(row[0]) for row in series.values}


async def test_body_over_the_servers_limit_is_too_large(influxd_factory: Callable[..., InfluxdProcess]) -> None:
    # The default limit is 25 MB; a small one keeps the test light.
    server = influxd_factory(config_overrides={("http", "max-body-size"): 1000})
    settings = InfluxSettings(url=server.url, database="big")
    async with InfluxClient(settings) as client:
        await client.create_database()
        with pytest.raises(InfluxTooLarge) as excinfo:
            await client.write(b"\n".join(f"m v={i} {T0 + i}".encode() for i in range(200)))
    assert excinfo.value.status == 413


async def test_server_killed_is_unavailable_then_back(influxd_factory: Callable[..., InfluxdProcess]) -> None:
    server = influxd_factory()
    settings = InfluxSettings(url=server.url, database="fault", timeout_s=5)
    async with InfluxClient(settings) as client:
        await client.create_database()
        server.kill()
        with pytest.raises(InfluxUnavailable):
            await client.write(f"m v=1 {T0}".encode())  # the kept-alive connection is dead too
        assert await client.ping() is False
        server.start()
        await client.write(f"m v=1 {T0}".encode())
        (series,) = await client.query('SELECT count("v") FROM "m"')
    assert series.values[0][1] == 1


async def test_a_database_not_created_yet_reads_as_none_and_other_errors_still_raise(
    influx_settings: InfluxSettings,
) -> None:
    missing = influx_settings.model_copy(update={"database": "never_written"})
    async with InfluxClient(missing) as client:
        assert await or_missing_database(client.query('SELECT * FROM "m"')) is None
    async with InfluxClient(influx_settings) as client:
        assert await or_missing_database(client.query('SELECT * FROM "no_such_measurement"')) == []
        with pytest.raises(InfluxRejected):
            await or_missing_database(client.query("SELEKT nothing"))
