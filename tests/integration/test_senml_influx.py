"""Plain RFC 8428 packs (no seq record, a sum) parsed, encoded and written to the fixture influxd: stored as given."""

from __future__ import annotations

import json

from smartcity.city.directory import DeviceDirectory, DeviceInfo
from smartcity.city.model import DeviceType, FacilityKind, NetworkClass
from smartcity.contract.parse import parse_message
from smartcity.contract.reading import Reading
from smartcity.contract.topics import TopicKind
from smartcity.influx.client import InfluxClient
from smartcity.influx.lineprotocol import LineEncoder
from smartcity.settings import InfluxSettings
from tests.support.contract import AIR, DIRECTORY, NOW_MS, SCHEME, topic

METER = "em-000001"
VECTOR_DIRECTORY = DeviceDirectory(
    [
        *DIRECTORY,
        DeviceInfo(METER, DeviceType.ENERGY_METER, "north", "school-0001", FacilityKind.SCHOOL, NetworkClass.BROADBAND),
    ]
)

T0 = NOW_MS - 3_600_000


async def test_readings_without_seq_and_sums_are_stored(influx_settings: InfluxSettings) -> None:
    pack = json.dumps(
        [
            {"bn": f"urn:dev:city:{METER}:", "bt": T0 / 1000, "n": "power", "u": "kW", "v": 3.5, "s": 4_500_000},
            {"n": "power", "t": 60, "v": 3.6, "s": 4_500_216},
        ]
    ).encode()
    outcome = parse_message(
        topic(METER, TopicKind.SENML), pack, scheme=SCHEME, directory=VECTOR_DIRECTORY, now_ms=NOW_MS
    )
    assert outcome.rejections == []
    sequenced = Reading(AIR, 7, T0, {"no2": 20.5})  # the platform's own devices keep their seq field
    encoder = LineEncoder(VECTOR_DIRECTORY)
    body = "\n".join(line for reading in [*outcome.readings, sequenced] for line in encoder.encode_parsed(reading))
    async with InfluxClient(influx_settings) as client:
        await client.write(body.encode(), precision="ms")
        (energy,) = await client.query('SELECT * FROM "energy" ORDER BY time')
        (field_keys,) = await client.query('SHOW FIELD KEYS FROM "energy"')
        (air,) = await client.query('SELECT "no2", "seq" FROM "air_quality"')
    assert [(row["time"], row["power"], row["energy"]) for row in energy.records()] == [
        (T0, 3.5, 1250.0),
        (T0 + 60_000, 3.6, 1250.06),
    ]
    assert field_keys.values == [["energy", "float"], ["power", "float"]]  # no seq field: unmeasured, not zero
    assert air.values == [[T0, 20.5, 7]]
