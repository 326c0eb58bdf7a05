"""InfluxClient against the fixture influxd: round trips, bind parameters, real error texts, database lifecycle."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from smartcity.influx.client import InfluxClient
from smartcity.influx.errors import InfluxQueryError, InfluxRejected, InfluxTooLarge, InfluxUnavailable
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
    assert excinfo.value.status == 400
    assert "partial write" in excinfo.value.message
    assert "dropped=1" in excinfo.value.message
    assert series.values[0][1] == 3


async def test_unparsable_line_protocol_is_rejected(influx_settings: InfluxSettings) -> None:
    async with InfluxClient(influx_settings) as client:
        with pytest.raises(InfluxRejected, match="unable to parse"):
            await client.write(b"m v=")


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
