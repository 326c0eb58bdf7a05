"""The gateway under real backlogs with bad input in them, against a real Mosquitto (persistence on) and influxd.

Each test ends in a conservation count: every reading the broker acknowledged to its publisher is stored once, and
every rejected message has exactly one dead letter that can be read back from InfluxDB afterwards, whether or not
anybody was subscribed to the live dead-letter topics.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import cast

import httpx
import pytest

from smartcity.contract.topics import TopicKind
from smartcity.localservices.load import Load, publish_files
from smartcity.localservices.probes import RssSampler, rss_bytes
from tests.e2e.gateway_rig import STEP_MS, Rig

pytestmark = pytest.mark.slow

PER_DEVICE = 12_500
"""8 devices x 12,500 = the issue's 100,000-reading backlog."""
MALFORMED_PER_DEVICE = 5


def _log(rig: Rig) -> str:
    return "gateway log:\n" + rig.gateway.log_tail(60)


def _stored_dead_letters(rig: Rig) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for series in rig.probe.query('SELECT * FROM "dead_letters" ORDER BY time ASC'):
        columns = cast(list[str], series["columns"])
        rows += [dict(zip(columns, row, strict=True)) for row in cast(list[list[object]], series["values"])]
    return rows


def test_a_backlog_with_malformed_messages_drains_without_a_reconnect(rig: Rig, tmp_path: Path) -> None:
    rig.dead_letters.close()  # nobody reads the live dead-letter topics: the broker answers 0x10 and drops them
    rig.gateway.start()
    rig.gateway.stop()  # the session and its subscriptions now exist: the backlog queues for the gateway
    load = Load(rig.devices, PER_DEVICE, base_ms=rig.ledger.base_ms, step_ms=STEP_MS)
    files, _size = load.write_files(tmp_path / "load")
    for path in files:  # a few malformed messages spread through each device's stream
        lines = path.read_text().splitlines()
        for k in range(MALFORMED_PER_DEVICE):
            lines.insert((k + 1) * len(lines) // (MALFORMED_PER_DEVICE + 1), '{"dev":"' + path.stem + '","seq":')
        path.write_text("\n".join(lines) + "\n")
    publish_files("127.0.0.1", rig.broker.port, rig.scheme, files, qos=1, parallel=len(files))
    for device in rig.devices:
        rig.ledger.published[device].update(range(PER_DEVICE))
    malformed = MALFORMED_PER_DEVICE * len(rig.devices)

    started = time.monotonic()
    rig.gateway.start()
    assert rig.wait_stored(load.total, timeout_s=90) == load.total, _log(rig)
    drained_s = time.monotonic() - started
    stored = rig.stored()
    assert {d: len(stored[d]) for d in rig.devices} == dict.fromkeys(rig.devices, PER_DEVICE)
    letters = _stored_dead_letters(rig)
    deadline = time.monotonic() + 10
    while len(letters) < malformed and time.monotonic() < deadline:
        time.sleep(0.2)
        letters = _stored_dead_letters(rig)
    assert len(letters) == malformed, _log(rig)
    assert {row["reason"] for row in letters} == {"malformed-json"}
    assert {row["device"] for row in letters} == set(rig.devices)
    assert all(json.loads(str(row["payload"])).endswith('"seq":') for row in letters)
    log_text = rig.gateway.log_since_start()
    assert "broker connection lost" not in log_text, _log(rig)
    assert log_text.count("connected to ") == 1, _log(rig)
    metrics = rig.gateway.metrics()
    assert metrics["rejected_total{reason=malformed-json}"] == malformed
    assert drained_s < 60, f"the backlog took {drained_s:.0f} s to drain"


def test_sigterm_with_a_refused_point_in_the_open_batch_exits_within_seconds(rig: Rig) -> None:
    device = rig.devices[0]
    ts = rig.ledger.base_ms + 5
    # o3 is a float in the registry; a string o3 already in this shard makes InfluxDB refuse the point for good.
    response = httpx.post(
        f"{rig.influxd.url}/write",
        params={"db": rig.probe.database, "precision": "ms"},
        content=f'air_quality,device=someone-else o3="text" {ts}',
    )
    assert response.status_code == 204
    rig.gateway.start()
    topic = rig.scheme.device(device, TopicKind.READING)
    refused = f'{{"dev":"{device}","seq":77,"ts":{ts},"m":{{"no2":10.0,"o3":41.5}}}}'.encode()
    rig.publisher.send(topic, refused)
    valid_topic, valid = rig.reading(1, 0)
    rig.publisher.send(valid_topic, valid)
    rig.ledger.published[rig.devices[1]].add(0)
    started = time.monotonic()
    rig.gateway.stop()  # SIGTERM while both sit in the open batch (BATCH_MS 200)
    stop_s = time.monotonic() - started
    assert stop_s < 5, f"SIGTERM drain took {stop_s:.1f} s\n{_log(rig)}"
    assert "still not durable" not in rig.gateway.log_tail(100)
    (letter,) = _stored_dead_letters(rig)
    assert (letter["reason"], letter["device"]) == ("store-rejected", device)
    assert "field type conflict" in str(letter["detail"])
    assert rig.probe.count("air_quality", "no2") == 1
    # The message was acknowledged: a restarted gateway gets no redelivery and writes no second dead letter.
    rig.gateway.start()
    time.sleep(1.0)
    rig.gateway.stop()
    assert len(_stored_dead_letters(rig)) == 1


def test_packs_of_1024_bad_records_keep_memory_flat_and_make_one_dead_letter_each(rig: Rig) -> None:
    rig.gateway.start()
    device = rig.devices[0]
    topic = rig.scheme.device(device, TopicKind.SENML)
    bt = rig.ledger.base_ms / 1000
    packs = 150
    time.sleep(1.0)
    baseline = rss_bytes(rig.gateway.pid)
    with RssSampler([rig.gateway.pid]) as sampler:
        for k in range(packs):
            records = [{"bn": f"{device}:", "bt": bt + k, "n": "seq", "v": k}]
            records += [{"n": "no2", "v": 5000.0 + i, "t": i / 1000} for i in range(1, 1024)]
            rig.publisher.send(topic, json.dumps(records).encode())
            if k % 25 == 0:
                rig.gateway.metrics()  # /metrics answers within its 2 s timeout during the storm
        deadline = time.monotonic() + 60
        while len(_stored_dead_letters(rig)) < packs and time.monotonic() < deadline:
            time.sleep(0.5)
    letters = _stored_dead_letters(rig)
    assert len(letters) == packs, _log(rig)
    assert all(int(str(row["rejections"])) >= 1023 for row in letters)
    growth_mib = (sampler.peak - baseline) / 2**20
    assert growth_mib < 40, f"gateway grew by {growth_mib:.0f} MiB on {packs} bad packs"
    metrics = rig.gateway.metrics()
    assert sum(v for k, v in metrics.items() if k.startswith("rejected_total")) >= packs * 1023


def test_a_relative_time_pack_redelivered_after_a_crash_lands_on_the_same_points(rig: Rig) -> None:
    device = rig.devices[7]
    topic = rig.scheme.device(device, TopicKind.SENML)
    pack = [  # RFC 8428 relative times: no base time, t relative to "now" (first receipt, by the contract)
        {"bn": f"{device}:", "n": "seq", "v": 1, "t": -10},
        {"n": "no2", "v": 5.0, "t": -10},
        {"n": "seq", "v": 2, "t": -5},
        {"n": "no2", "v": 6.0, "t": -5},
    ]
    rig.gateway.start()
    os.kill(rig.influxd.pid, signal.SIGSTOP)  # nothing can become durable: nothing is acknowledged
    try:
        rig.publisher.send(topic, json.dumps(pack).encode())
        deadline = time.monotonic() + 10
        while rig.gateway.metrics().get("messages_received_total{kind=senml}", 0) < 1:
            assert time.monotonic() < deadline, _log(rig)
            time.sleep(0.1)
        time.sleep(1.0)  # the batch seals (BATCH_MS 200) and its anchor is saved before the write is sent
        rig.gateway.kill()
    finally:
        os.kill(rig.influxd.pid, signal.SIGCONT)
    first = rig.probe.times("air_quality", "no2", "device", device)
    deadline = time.monotonic() + 10
    while len(first) < 2 and time.monotonic() < deadline:  # influxd still runs the write it had been sent
        time.sleep(0.2)
        first = rig.probe.times("air_quality", "no2", "device", device)
    time.sleep(2.0)  # the receive times of first delivery and redelivery now differ by seconds
    rig.gateway.start()  # the broker redelivers the unacknowledged pack (DUP): same anchor, same points
    deadline = time.monotonic() + 20
    while rig.gateway.metrics().get("messages_received_total{kind=senml}", 0) < 1:
        assert time.monotonic() < deadline, _log(rig)
        time.sleep(0.1)
    rig.gateway.stop()
    stored = rig.probe.times("air_quality", "no2", "device", device)
    assert len(stored) == 2, f"{stored} (first delivery wrote {first})\n{_log(rig)}"
    assert stored[1] - stored[0] == 5_000
    if first:
        assert first == stored


def test_a_reconnect_to_the_persistent_session_does_not_read_every_retained_status_again(rig: Rig) -> None:
    for device in rig.devices:
        status = f'{{"state":"online","ts_ms":{int(time.time() * 1000)}}}'.encode()
        rig.publisher.send(rig.scheme.device(device, TopicKind.STATUS), status, retain=True)
    rig.gateway.start()  # a new subscription: the broker sends the retained statuses once
    deadline = time.monotonic() + 10
    while rig.gateway.metrics().get("messages_received_total{kind=status}", 0) < len(rig.devices):
        assert time.monotonic() < deadline, _log(rig)
        time.sleep(0.1)
    rig.gateway.stop()
    rig.gateway.start()  # same client id, session present: the subscription exists, nothing retained is resent
    topic, payload = rig.reading(0, 0)
    rig.publisher.send(topic, payload)
    rig.ledger.published[rig.devices[0]].add(0)
    assert rig.wait_stored(1, timeout_s=10) == 1
    assert rig.gateway.metrics().get("messages_received_total{kind=status}", 0) == 0, _log(rig)
