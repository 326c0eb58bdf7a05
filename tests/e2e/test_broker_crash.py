"""A broker crash (SIGKILL) against the real gateway: what Mosquitto's snapshot persistence can lose, and that it is
never something the gateway acknowledged (docs/GATEWAY.md, "What the broker can lose").

Mosquitto 2.0 keeps its state in memory and writes a snapshot every ``autosave_interval``; these tests make it
save only when told to (``autosave_interval_s=0`` and :meth:`MosquittoProcess.save`), so each one decides what
the last snapshot holds when the broker dies.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.gateway_rig import Rig

pytestmark = pytest.mark.slow

BATCH = 200
"""Readings per phase: 25 per device, a few batches of the gateway."""


def _stream(rig: Rig, phase: int, *, rate: float = 500.0) -> dict[str, set[int]]:
    """Publish phase ``phase``: BATCH new readings (sequence numbers of their own, so new points), round-robin over
    the devices at about ``rate`` per second; returns the seqs per device the broker acknowledged."""
    per_device = BATCH // len(rig.devices)
    sent: dict[str, set[int]] = {device: set() for device in rig.devices}
    started = time.monotonic()
    for n in range(per_device * len(rig.devices)):
        index, k = n % len(rig.devices), n // len(rig.devices)
        seq = phase * per_device + k
        rig.publisher.send(*rig.reading(index, seq))
        sent[rig.devices[index]].add(seq)
        rig.ledger.published[rig.devices[index]].add(seq)
        delay = started + (n + 1) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return sent


def _broker_saves_only_when_told(rig: Rig) -> None:
    # A clean stop saves everything (the publisher's and collector's sessions); from now on nothing is saved
    # until save() or the next clean stop.
    rig.broker.stop()
    rig.broker.autosave_interval_s = 0
    rig.broker.start()


def _wait_all_acked(rig: Rig, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while rig.gateway.metrics().get("inflight_unacked", 0.0) > 0:
        assert time.monotonic() < deadline, "the gateway did not acknowledge everything\n" + rig.gateway.log_tail(40)
        time.sleep(0.05)


def _stored_exactly(rig: Rig, expected: dict[str, set[int]]) -> None:
    stored = rig.stored()  # also asserts that no device has two points at one timestamp
    assert stored == expected
    assert rig.probe.count("air_quality", "no2") == sum(len(seqs) for seqs in expected.values())


def test_broker_sigkill_loses_nothing_the_gateway_acknowledged(rig: Rig) -> None:
    _broker_saves_only_when_told(rig)
    rig.gateway.start()
    _stream(rig, 0)
    assert rig.wait_stored(BATCH, timeout_s=15) == BATCH, rig.gateway.log_tail(40)

    # The next phase waits in the gateway's session while it is away, and the snapshot takes it in ...
    rig.gateway.stop()
    _stream(rig, 1)
    rig.broker.save()
    # ... then the gateway stores and acknowledges it: the broker forgets it in memory, not on disk.
    rig.gateway.start()
    assert rig.wait_stored(2 * BATCH, timeout_s=15) == 2 * BATCH, rig.gateway.log_tail(40)
    _wait_all_acked(rig)
    received_before_crash = rig.gateway.metrics()["messages_received_total{kind=reading}"]

    rig.broker.kill()
    rig.broker.start()  # same port and data directory: the state of the snapshot
    _stream(rig, 2)
    assert rig.wait_stored(3 * BATCH, timeout_s=20) == 3 * BATCH, rig.gateway.log_tail(40)
    _wait_all_acked(rig)

    _stored_exactly(rig, {device: rig.ledger.published[device] for device in rig.devices})
    # The snapshot still held the second phase for the gateway: the broker delivered it again, and it landed on
    # the same points (device timestamps), so nothing is stored twice.
    received_after = rig.gateway.metrics()["messages_received_total{kind=reading}"] - received_before_crash
    assert received_after >= 2 * BATCH, rig.gateway.log_tail(40)


def test_broker_sigkill_loses_what_it_accepted_after_its_last_snapshot(rig: Rig) -> None:
    """The window itself: readings the broker acknowledged to the device after its last save and had not yet
    delivered are gone after a crash. Nobody but the device could resend them, and it already got its PUBACK."""
    _broker_saves_only_when_told(rig)
    rig.gateway.start()  # creates the gateway's session and subscriptions ...
    rig.gateway.stop()
    rig.broker.save()  # ... and the snapshot holds them, but none of what follows
    lost = _stream(rig, 0)  # every one of them got its PUBACK

    rig.broker.kill()
    rig.broker.start()
    rig.gateway.start()
    kept = _stream(rig, 1)
    assert rig.wait_stored(BATCH, timeout_s=15) == BATCH, rig.gateway.log_tail(40)
    _wait_all_acked(rig)
    time.sleep(0.5)  # anything the broker still had would have arrived by now
    _stored_exactly(rig, kept)
    assert sum(len(seqs) for seqs in lost.values()) == BATCH
