"""A broker in front of the broker: a district Mosquitto bridged to the city Mosquitto (QoS 1, ``cleansession
false``), the devices on the district broker, the gateway on the city broker. Every reading the district broker
acknowledged reaches InfluxDB exactly once per point across a restart of the district broker and across a restart
of the city broker (the bridge's link drops, the district broker queues for it, the bridge resends)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from smartcity.localservices import MosquittoProcess
from tests.e2e.gateway_rig import ExactPublisher, Rig

pytestmark = pytest.mark.slow

READINGS = 1_200
"""150 per device at 400/s: three seconds of traffic, a restart in the middle of it."""


def bridge_conf(name: str, city: MosquittoProcess, topic_root: str) -> str:
    """Mosquitto bridge lines: the district's device topics go out to ``city`` at QoS 1 on a persistent session."""
    return "\n".join(
        [
            f"connection {name}",
            f"address 127.0.0.1:{city.port}",
            f"topic {topic_root}/v1/dev/# out 1",
            "cleansession false",
            f"remote_clientid bridge-{name}",
            f"local_clientid bridge-{name}-local",
            "bridge_protocol_version mqttv311",
            "try_private true",
            "restart_timeout 1",
            "keepalive_interval 10",
            "notifications false",
            "start_type automatic",
        ]
    )


def _district(rig: Rig, factory: Callable[..., MosquittoProcess]) -> MosquittoProcess:
    return factory(persistence=True, extra_conf=bridge_conf("district-n", rig.broker, rig.scheme.root))


@pytest.mark.parametrize("restarted", ["district", "city"])
def test_no_reading_is_lost_across_a_broker_restart_behind_the_bridge(
    rig: Rig, mosquitto_factory: Callable[..., MosquittoProcess], restarted: str
) -> None:
    district = _district(rig, mosquitto_factory)
    rig.gateway.start()
    rig.publisher.close()  # the devices talk to the district broker, not to the city's
    rig.publisher = ExactPublisher(district, f"devices-{rig.scheme.root}")
    target = district if restarted == "district" else rig.broker

    def restart_midway(n: int) -> None:
        if n == READINGS // 2:
            target.restart()  # a clean stop saves the queues (persistence), the start reloads them

    rig.stream(READINGS, rate=400.0, during=restart_midway)
    assert rig.wait_stored(READINGS, timeout_s=40) == READINGS, (
        rig.gateway.log_tail(40) + district.log_since_start()[-3000:]
    )
    stored = rig.stored()  # also asserts that no device has two points at one timestamp
    assert stored == {device: rig.ledger.published[device] for device in rig.devices}
    assert rig.ledger.total == READINGS
    assert rig.dead_letters.wait_for(0, timeout_s=0.5) == []
    log = district.log_since_start()
    # The bridge connected after the district broker's start, and again after the city broker came back.
    assert log.count("Connecting bridge (step 1) district-n") >= (2 if restarted == "city" else 1)
