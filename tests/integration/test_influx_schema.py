"""The platform's own measurements round-trip through the real influxd: what the gateway stores as a dead letter
is what an operator reads back, whatever the rejected payload held."""

from __future__ import annotations

import base64

from smartcity.contract.messages import DeadLetter
from smartcity.influx.client import InfluxClient
from smartcity.influx.schema import dead_letter_point, read_dead_letters
from smartcity.settings import InfluxSettings

HOSTILE = 'line\nbreak, "quotes" \\backslash\\ tab\t é ☃ {"json": [1, 2]} \\'


async def test_dead_letters_read_back_as_written(influx_settings: InfluxSettings) -> None:
    letters = [
        DeadLetter("malformed-json", f"detail {HOSTILE}", f"city/v1/dev/aq-1/{HOSTILE}", 1_764_000_000_000, HOSTILE),
        DeadLetter(
            "malformed-cbor",
            "binary",
            "city/v1/dev/aq-2/senml-cbor",
            1_764_000_000_001,
            base64.b64encode(b"\xff\x00\x9f").decode(),
            "base64",
            "aq-2",
            rejections=3,
            payload_bytes=3,
        ),
    ]
    lines = [
        dead_letter_point(letter, gateway="gw-1", known_device=letter.device_id is not None, ts_ms=letter.received_ms)
        for letter in letters
    ]
    async with InfluxClient(influx_settings) as influx:
        await influx.write("\n".join(lines).encode())
        back = await read_dead_letters(influx)
        only_cbor = await read_dead_letters(influx, reason="malformed-cbor")
        later = await read_dead_letters(influx, since_ms=1_764_000_000_001)
    first, second = back
    assert first.payload == HOSTILE
    assert first.topic == letters[0].topic.replace("\n", "\\n").replace("\t", "\\u0009")
    assert first.detail.startswith('detail line\\nbreak, "quotes"')
    assert first.device_id is None
    assert second == letters[1]
    assert only_cbor == [letters[1]]
    assert later == [letters[1]]
