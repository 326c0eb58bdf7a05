"""Outgoing messages of devices and the network server: the bounded buffer, PUBACK bookkeeping, fault copies.

A broadband device (:mod:`devices.broadband`) and the network server (:mod:`devices.netserver`) each keep an
outbox and the publishes in flight, a narrowband device (:mod:`devices.narrowband`) a backlog; these are the rules
they share, so drops, acknowledgements, refusals and fault copies are counted the same way everywhere.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TypeVar

from devices.faults import DeviceFaults, Fault
from devices.stats import RunStats

Outgoing = tuple[bytes, bytes, bool]
"""A publish waiting to be sent or acknowledged: (encoded topic, payload, retain)."""
_Item = TypeVar("_Item")


def enqueue(buffer: deque[_Item], item: _Item, limit: int, stats: RunStats, dropped: str) -> None:
    """Append ``item`` to a bounded buffer; past ``limit`` the oldest item is dropped and counted as ``dropped``
    (a sender that stays offline loses its oldest data first, as a real device buffer would)."""
    buffer.append(item)
    if len(buffer) > limit:
        buffer.popleft()
        stats.count(dropped)


def record_puback(inflight: dict[int, Outgoing], packet_id: int, reason: int, stats: RunStats, sender: str) -> bool:
    """A PUBACK arrived: forget the acknowledged publish and count it, a refusal also as an error naming ``sender``.
    False for a packet id that is not in flight (nothing recorded)."""
    if inflight.pop(packet_id, None) is None:
        return False
    stats.counters["acked"] += 1
    if reason >= 0x80:
        stats.publish_refused(sender, reason)
    return True


def send_fault_copies(
    faults: DeviceFaults, stats: RunStats, seq: int, publish: Callable[[bytes], None], payload: bytes, malformed: bytes
) -> None:
    """After ``payload`` went out: the message faults that add publishes on the same topic, a duplicate of it and
    a ``malformed`` payload, each when the device's fault plan hits this ``seq``."""
    if faults.hits(Fault.DUPLICATE, seq):
        publish(payload)
        stats.fault(Fault.DUPLICATE)
    if faults.hits(Fault.MALFORMED, seq):
        publish(malformed)
        stats.fault(Fault.MALFORMED)
