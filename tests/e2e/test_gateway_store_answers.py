"""The gateway behind an InfluxDB 2.x stand-in (a local HTTP server in front of the real influxd, see
:mod:`tests.support.influx_standin`) that answers one batch's write with 422, a 2.x partial write.

The refused points are dead-lettered (readable from InfluxDB afterwards) once, not retried forever and not spooled;
every other reading lands. Real Mosquitto (persistence on) and influxd, the gateway as a subprocess.
"""

from __future__ import annotations

import json
import re
import time
from typing import cast

import pytest

from smartcity.contract.topics import TopicKind
from tests.e2e.gateway_rig import STEP_MS, Rig
from tests.support.influx_standin import Influx2Standin

pytestmark = pytest.mark.slow

REFUSED_SEQS = frozenset(range(10, 15))
"""Readings of one device that the stand-in refuses: a few consecutive ones, so they travel in one batch."""


def _log(rig: Rig) -> str:
    return "gateway log:\n" + rig.gateway.log_tail(60)


def _store_rejected_letters(rig: Rig) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for series in rig.probe.query('SELECT * FROM "dead_letters" WHERE "reason" = \'store-rejected\''):
        columns = cast(list[str], series["columns"])
        rows += [dict(zip(columns, row, strict=True)) for row in cast(list[list[object]], series["values"])]
    return rows


def test_a_2x_partial_write_422_is_dead_lettered_once_while_other_batches_land(rig: Rig) -> None:
    device = rig.devices[3]
    refused_ts = {rig.ledger.base_ms + seq * STEP_MS for seq in REFUSED_SEQS}
    own_tag = re.compile(rf",device={re.escape(device)}[, ]")

    def refuse(line: str) -> bool:
        # The bucket's no2 field is an integer, say: 2.x refuses these air_quality points and keeps the rest.
        if not line.startswith("air_quality,") or own_tag.search(line) is None:
            return False
        return int(line.rsplit(" ", 1)[1]) in refused_ts

    with Influx2Standin(rig.influxd.url, refuse, field="no2", measurement="air_quality") as standin:
        rig.gateway.env["SMARTCITY_GATEWAY_INFLUX__URL"] = standin.url
        rig.gateway.start()
        rig.stream(400, rate=400)
        expected = rig.ledger.total - len(REFUSED_SEQS)
        assert rig.wait_stored(expected, timeout_s=20) == expected, _log(rig)
        deadline = time.monotonic() + 20
        while len(_store_rejected_letters(rig)) < len(REFUSED_SEQS) and time.monotonic() < deadline:
            time.sleep(0.2)
        refusals = standin.answers[422]
        time.sleep(2.0)  # a batch that blocked the writer or the spool would be sent again and again by now
        assert standin.answers[422] == refusals
        metrics = rig.gateway.metrics()

    stored = rig.stored()
    assert stored[device] == rig.ledger.published[device] - REFUSED_SEQS, _log(rig)
    assert all(stored[d] == rig.ledger.published[d] for d in rig.devices if d != device)
    letters = _store_rejected_letters(rig)
    refused_lines = set(standin.refused)
    assert len(refused_lines) == len(REFUSED_SEQS)
    assert len(letters) == len(REFUSED_SEQS)  # one dead letter per refused point: none twice
    assert {json.loads(str(letter["payload"])) for letter in letters} == refused_lines
    assert {letter["topic"] for letter in letters} == {rig.scheme.device(device, TopicKind.READING)}
    assert all("field type conflict" in str(letter["detail"]) for letter in letters)
    # 2.x names the field, not the points: the batch, a guided split, then bisection (about 2 writes per refused
    # point and halving, 26 when measured), never a write per point of the batch, and never again once settled.
    assert 1 <= refusals <= 2 * len(REFUSED_SEQS) * 10
    assert (metrics.get("spooled_points_total", 0.0), metrics.get("spool_depth", 0.0)) == (0.0, 0.0), _log(rig)
    assert metrics.get("influx_up") == 1.0
