"""Line protocol against the fixture influxd: hostile names and values are written and read back unchanged."""

from __future__ import annotations

from smartcity.contract.reading import Reading
from smartcity.influx.client import InfluxClient, quote_identifier
from smartcity.influx.lineprotocol import LineEncoder, encode_point
from smartcity.settings import InfluxSettings
from tests.support.contract import AIR, DIRECTORY, DISPLAY, LIGHT, NOW_MS

HOSTILE = [
    "plain",
    "comma,inside",
    "space inside",
    "equals=inside",
    "all , = of them",
    'double "quotes"',
    "single 'quotes'",
    "back\\slash",
    "two \\\\ backslashes",
    "paired\\\\,before a comma",
    " leading space",
    "trailing space ",
    "caf\u00e9 \u2603 \u6771\u4eac \U0001f30d",
    "tab\there",
    "#hash",
    "x" * 200,
]
"""Tag values that InfluxDB must store as given. (Newlines, a backslash at the end and an unpaired backslash
before a delimiter cannot be carried; the encoder refuses those, see the unit tests.)"""

HOSTILE_STRINGS = [
    *HOSTILE,
    "ends with a backslash \\",
    '\\"',
    '"',
    "",
    "\\",
    "\\\\\\",
]
"""String field values: only the double quote and the backslash need escaping, so everything else goes."""

T0 = NOW_MS - 3_600_000


async def test_hostile_tag_values_and_strings_read_back_unchanged(influx_settings: InfluxSettings) -> None:
    usable = HOSTILE
    lines = [
        encode_point("hostile", {"value": text, "case": str(i)}, {"text": text, "n": i}, T0 + i)
        for i, text in enumerate(usable)
    ]
    strings = [
        encode_point("strings", {"case": str(i)}, {"text": text, "n": i}, T0 + i)
        for i, text in enumerate(HOSTILE_STRINGS)
    ]
    async with InfluxClient(influx_settings) as client:
        await client.write("\n".join(lines + strings).encode())
        for i, text in enumerate(usable):
            found = await client.query('SELECT "text", "n" FROM "hostile" WHERE "value" = $v', {"v": text})
            assert [series.values for series in found] == [[[T0 + i, text, i]]], text
        (tag_values,) = await client.query('SHOW TAG VALUES FROM "hostile" WITH KEY = "value"')
        (stored_strings,) = await client.query('SELECT "text", "n" FROM "strings" ORDER BY time')
    assert sorted(str(row[1]) for row in tag_values.values) == sorted(usable)
    assert stored_strings.values == [[T0 + i, text, i] for i, text in enumerate(HOSTILE_STRINGS)]


async def test_hostile_measurement_and_keys(influx_settings: InfluxSettings) -> None:
    measurement, tag_key, field_key = "air quality,v2", "tag key=x", "field,key = y"
    line = encode_point(measurement, {tag_key: "a b"}, {field_key: 1.5}, T0)
    async with InfluxClient(influx_settings) as client:
        await client.write(line.encode())
        (series,) = await client.query(
            f"SELECT {quote_identifier(field_key)} FROM {quote_identifier(measurement)} "
            f"WHERE {quote_identifier(tag_key)} = $v",
            {"v": "a b"},
        )
    assert (series.name, series.columns, series.values) == (measurement, ["time", field_key], [[T0, 1.5]])


async def test_encoded_readings_keep_their_types_and_values(influx_settings: InfluxSettings) -> None:
    encoder = LineEncoder(DIRECTORY)
    readings = [
        Reading(AIR, 1, T0, {"no2": 23.4, "pm25": 1.5e-7, "pm10": 5e-324, "battery": 99.0}),
        Reading(AIR, 2, T0 + 1, {"no2": 1999.9999999999998, "pm25": 0.1, "pm10": 0.000025, "o3": 0.0}),
        Reading(LIGHT, 3, T0 + 2, {"lamp_on": True, "dim_level": 40, "lamp_power": 35.0}),
        Reading(DISPLAY, 4, T0 + 3, {"message": 'Closed: "flood" \\ back 13:00, sorry', "brightness": 100}),
    ]
    body = "\n".join(line for reading in readings for line in encoder.encode(reading))
    async with InfluxClient(influx_settings) as client:
        await client.write(body.encode(), precision="ms")
        (air,) = await client.query('SELECT * FROM "air_quality" WHERE "device" = $d ORDER BY time', {"d": AIR})
        (light,) = await client.query('SELECT * FROM "street_light"')
        (display,) = await client.query('SELECT * FROM "display"')
        (vitals,) = await client.query('SELECT "battery", "seq" FROM "device_vitals"')
        (field_types,) = await client.query('SHOW FIELD KEYS FROM "air_quality"')
    tags = {"device": AIR, "device_type": "air_quality", "district": "north", "facility": "school-0001",
            "facility_kind": "school"}  # fmt: skip
    assert air.records() == [
        {"time": T0, **tags, "no2": 23.4, "o3": None, "pm10": 5e-324, "pm25": 1.5e-7, "seq": 1},
        {"time": T0 + 1, **tags, "no2": 1999.9999999999998, "o3": 0.0, "pm10": 0.000025, "pm25": 0.1, "seq": 2},
    ]
    assert field_types.values == [
        ["no2", "float"],
        ["o3", "float"],
        ["pm10", "float"],
        ["pm25", "float"],
        ["seq", "integer"],
    ]
    (light_row,) = light.records()
    assert (light_row["lamp_on"], light_row["dim_level"], light_row["lamp_power"], light_row["seq"]) == (
        True,
        40,
        35.0,
        3,
    )
    assert display.records()[0]["message"] == 'Closed: "flood" \\ back 13:00, sorry'
    assert vitals.values == [[T0, 99.0, 1]]
