import random

import pytest

from gateway.backoff import Backoff


def test_delays_grow_within_jitter_and_stop_at_the_cap() -> None:
    backoff = Backoff(0.1, 1.0, rng=random.Random(3))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [min(1.0, 0.1 * 2**n) for n in range(8)]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays[5:]) <= 1.0


def test_reset_starts_over() -> None:
    backoff = Backoff(0.1, 10.0, rng=random.Random(1))
    for _ in range(6):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 0.1


def test_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="base_s"):
        Backoff(2.0, 1.0)
