from gateway.batching import AckLedger, Batch


def _batch(generation: int, *mids: int) -> Batch:
    return Batch(generation, lines=["m v=1 1"], mids=list(mids))


def test_acks_leave_in_arrival_order_even_when_batches_finish_out_of_order() -> None:
    acked: list[list[int]] = []
    ledger = AckLedger(lambda mids: acked.append(list(mids)))
    first, second, third = _batch(0, 1, 2), _batch(0, 3), _batch(0, 4, 5)
    for batch in (first, second, third):
        ledger.register(batch)
    assert ledger.unacked == 5
    ledger.complete(third)
    ledger.complete(second)
    assert acked == []  # the first batch is not durable yet
    ledger.complete(first)
    assert acked == [[1, 2], [3], [4, 5]]
    assert ledger.unacked == 0
    assert ledger.open_batches == 0


def test_batches_of_an_old_connection_are_never_acked() -> None:
    acked: list[int] = []
    ledger = AckLedger(acked.extend)
    old = _batch(ledger.generation, 7)
    ledger.register(old)
    ledger.new_generation()
    new = _batch(ledger.generation, 7)  # the same id, meaning another message on the new connection
    ledger.register(new)
    ledger.complete(old)
    assert acked == []
    ledger.complete(new)
    assert acked == [7]
