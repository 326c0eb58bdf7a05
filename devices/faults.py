"""Fault injection: which devices misbehave, how, and when. Every injected fault is counted in the run summary.

``--fault NAME=SHARE`` (repeatable). Device faults pick ``SHARE`` of the devices (deterministically from the seed);
message faults hit each reading with probability ``SHARE`` on every device:

=========== ======= ==================================================================================================
name        applies what happens (counted as)
=========== ======= ==================================================================================================
dropout     device  once per run the socket is closed without DISCONNECT: the broker fires the will (offline,
                    retained); the device reconnects after its backoff (events)
flapping    device  the connection drops without DISCONNECT every 5-15 s and comes back (events)
stuck       device  after its third reading the first metric repeats its last value for ever (readings)
drift       device  the first metric drifts by 2 % of its range per simulated day, clamped to the range (readings)
skew        device  the device clock is off by 2 s to 4 min, either way (inside the gateway's window) (readings)
battery     device  the battery drains within the run; at 0 % the device dies without DISCONNECT (will fires) and
                    stays silent (deaths)
spikes      message the first metric is sent far outside its registry range: the gateway must reject it as
                    out-of-range; its sequence number is listed per device in the summary (readings)
duplicate   message the reading is published twice with the same sequence number (extra publishes)
reorder     message the reading is held back and sent after the next one (readings)
malformed   message an extra payload that is not JSON is published on the reading topic; it takes no sequence
                    number, so gap accounting is unaffected (extra publishes)
=========== ======= ==================================================================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from devices.drivers import stable_key, uniform


class Fault(enum.StrEnum):
    DROPOUT = "dropout"
    FLAPPING = "flapping"
    STUCK = "stuck"
    DRIFT = "drift"
    SKEW = "skew"
    BATTERY = "battery"
    SPIKES = "spikes"
    DUPLICATE = "duplicate"
    REORDER = "reorder"
    MALFORMED = "malformed"

    @property
    def per_message(self) -> bool:
        return self in _MESSAGE_FAULTS


_MESSAGE_FAULTS = frozenset({Fault.SPIKES, Fault.DUPLICATE, Fault.REORDER, Fault.MALFORMED})


class FaultSpecError(ValueError):
    """A ``--fault`` argument that cannot be used; the message names it and says what is expected."""


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """The run's faults: name -> share of devices (device faults) or per-reading rate (message faults)."""

    shares: dict[Fault, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, specs: list[str]) -> FaultPlan:
        shares: dict[Fault, float] = {}
        for spec in specs:
            name, sep, share_text = spec.partition("=")
            try:
                fault = Fault(name.strip())
            except ValueError:
                known = ", ".join(fault.value for fault in Fault)
                raise FaultSpecError(f"unknown fault {name.strip()!r} in {spec!r}; known faults: {known}") from None
            if not sep:
                raise FaultSpecError(f"fault {spec!r} needs a share: {fault.value}=0.05")
            try:
                share = float(share_text)
            except ValueError:
                raise FaultSpecError(f"share {share_text!r} of fault {fault.value} is not a number") from None
            if not 0 <= share <= 1:
                raise FaultSpecError(f"share of fault {fault.value} must be between 0 and 1, got {share}")
            if fault in shares:
                raise FaultSpecError(f"fault {fault.value} is given twice")
            shares[fault] = share
        return cls(shares)

    def for_device(self, seed: int, device_id: str, run_s: float | None) -> DeviceFaults:
        """This device's faults; ``run_s`` (the run's length, None = open-ended) places one-off events in it."""
        key = stable_key("faults", seed, device_id)
        chosen = {
            fault
            for fault, share in self.shares.items()
            if not fault.per_message and uniform(key + _index(fault)) < share
        }
        horizon = max(3.0, 0.5 * run_s) if run_s else 30.0
        rates = {fault: share for fault, share in self.shares.items() if fault.per_message and share > 0}
        return DeviceFaults(
            key=key,
            device_faults=frozenset(chosen),
            rates=rates,
            any=bool(chosen or rates),
            dropout_after_s=1.0 + (horizon - 1.0) * uniform(key + 101),
            flap_period_s=5.0 + 10.0 * uniform(key + 102),
            battery_life_s=2.0 + (horizon - 2.0) * uniform(key + 103),
            skew_ms=_skew_ms(key),
        )


def _index(fault: Fault) -> int:
    return list(Fault).index(fault) + 1


def _skew_ms(key: int) -> int:
    magnitude = 2_000 + int(238_000 * uniform(key + 104))  # inside the gateway's 300 s future window
    return magnitude if uniform(key + 105) < 0.5 else -magnitude


@dataclass(frozen=True, slots=True)
class DeviceFaults:
    """One device's faults and the deterministic decisions derived from them."""

    key: int
    device_faults: frozenset[Fault]
    rates: dict[Fault, float]
    dropout_after_s: float
    flap_period_s: float
    battery_life_s: float
    skew_ms: int
    any: bool = False
    """Whether the device has any fault at all (checked for every reading, so computed once)."""

    def has(self, fault: Fault) -> bool:
        return fault in self.device_faults

    def hits(self, fault: Fault, seq: int) -> bool:
        """Whether message fault ``fault`` strikes the reading with sequence number ``seq`` (deterministic)."""
        rate = self.rates.get(fault, 0.0)
        return rate > 0 and uniform(self.key ^ (seq * 0x9E3779B97F4A7C15) ^ _index(fault)) < rate


NO_FAULTS = FaultPlan()
MALFORMED_PAYLOAD = b'{"dev": "broken", "seq": '
"""What a malformed publish carries: truncated JSON (the gateway's malformed-json dead letter)."""
