import random

import pytest

from smartcity.backoff import Backoff, backoff_delay


def test_delays_grow_with_full_jitter_above_the_floor_and_stop_at_the_cap() -> None:
    rng = random.Random(1)
    for attempt in range(12):
        delays = [backoff_delay(attempt, 0.5, 30.0, rng) for _ in range(200)]
        assert all(0.5 <= delay <= min(30.0, 0.5 * 2**attempt) for delay in delays)
        if attempt >= 3:
            assert len({round(delay, 3) for delay in delays}) > 100  # jittered, not a fixed schedule
            assert min(delays) < 0.25 * min(30.0, 0.5 * 2**attempt)  # full jitter reaches down to the floor
    assert max(backoff_delay(40, 0.5, 30.0, rng) for _ in range(500)) > 25.0


def test_the_counter_grows_and_reset_starts_over() -> None:
    backoff = Backoff(0.1, 10.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(6)]
    assert all(0.1 <= delay <= min(10.0, 0.1 * 2**n) for n, delay in enumerate(delays))
    assert backoff.attempt == 6
    backoff.reset()
    assert backoff.next_delay() == pytest.approx(0.1)


def test_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="base_s"):
        Backoff(2.0, 1.0)
