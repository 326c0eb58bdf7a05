from pathlib import Path

import pytest

from gateway.spool import Spool, SpoolBusy


async def test_batches_come_back_oldest_first_and_survive_a_reopen(tmp_path: Path) -> None:
    async with Spool(tmp_path) as spool:
        await spool.append(["a v=1 1", "a v=2 2"], ["t/1", "t/2"])
        await spool.append(["b v=3 3"], ["t/3"])
        assert (spool.batches, spool.depth) == (2, 3)
    async with Spool(tmp_path) as spool:  # a restarted gateway finds its spool
        assert (spool.batches, spool.depth) == (2, 3)
        first = await spool.oldest()
        assert first is not None
        assert (first.lines, first.topics) == (["a v=1 1", "a v=2 2"], ["t/1", "t/2"])
        await spool.remove(first)
        second = await spool.oldest()
        assert second is not None
        assert second.lines == ["b v=3 3"]
        await spool.remove(second)
        assert await spool.oldest() is None
        assert (spool.batches, spool.depth) == (0, 0)


async def test_the_spool_is_sqlite_in_wal_mode(tmp_path: Path) -> None:
    async with Spool(tmp_path) as spool:
        await spool.append(["a v=1 1"], ["t"])
        mode = spool._db.execute("PRAGMA journal_mode").fetchone()[0]
        synchronous = spool._db.execute("PRAGMA synchronous").fetchone()[0]
    assert mode == "wal"
    assert synchronous == 2  # FULL: every commit is fsynced


async def test_a_second_process_cannot_share_the_spool_directory(tmp_path: Path) -> None:
    async with Spool(tmp_path):
        with pytest.raises(SpoolBusy, match="in use by another gateway"):
            Spool(tmp_path)
    async with Spool(tmp_path) as again:  # released on close
        assert again.batches == 0
