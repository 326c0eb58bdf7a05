from pathlib import Path

import pytest

from gateway.errors import SpoolBusy, SpoolError
from gateway.spool import Spool


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


def _cap_growth(spool: Spool) -> None:
    """Make SQLite refuse to grow the database file past its current size: a real SQLITE_FULL, as on a full disk."""
    pages = spool._db.execute("PRAGMA page_count").fetchone()[0]
    spool._db.execute(f"PRAGMA max_page_count = {pages}")


async def test_a_full_disk_refuses_the_append_and_leaves_the_spool_as_it_was(tmp_path: Path) -> None:
    async with Spool(tmp_path) as spool:
        await spool.append(["a v=1 1"], ["t/1"])
        _cap_growth(spool)
        big = [f"b v={i} {i}" for i in range(5_000)]
        with pytest.raises(SpoolError, match="cannot spool a batch of 5000 points: database or disk is full") as info:
            await spool.append(big, ["t/2"] * len(big))
        assert info.value.full is True
        assert (spool.batches, spool.depth) == (1, 1)
        assert not spool._db.in_transaction
        first = await spool.oldest()
        assert first is not None
        assert first.lines == ["a v=1 1"]
        spool._db.execute("PRAGMA max_page_count = 1073741823")  # the disk has room again
        await spool.append(big, ["t/2"] * len(big))
        assert (spool.batches, spool.depth) == (2, 5_001)
    async with Spool(tmp_path) as spool:
        assert (spool.batches, spool.depth) == (2, 5_001)


async def test_a_read_only_spool_refuses_appends_and_removes_and_keeps_its_batches(tmp_path: Path) -> None:
    async with Spool(tmp_path) as spool:
        await spool.append(["a v=1 1"], ["t/1"])
        spool._db.execute("PRAGMA query_only = 1")  # SQLite's own read-only refusal (SQLITE_READONLY)
        with pytest.raises(SpoolError, match="SQLITE_READONLY") as info:
            await spool.append(["b v=2 2"], ["t/2"])
        assert info.value.full is False
        entry = await spool.oldest()
        assert entry is not None
        with pytest.raises(SpoolError, match=f"cannot remove spooled batch {entry.id}"):
            await spool.remove(entry)
        assert (spool.batches, spool.depth) == (1, 1)
        spool._db.execute("PRAGMA query_only = 0")
        await spool.remove(entry)
        assert (spool.batches, spool.depth) == (0, 0)


def test_a_spool_directory_that_cannot_be_made_is_a_spool_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(SpoolError, match="cannot open the spool directory"):
        Spool(tmp_path / "file" / "spool")


async def test_a_spool_file_that_is_not_a_database_is_a_spool_error_and_frees_the_lock(tmp_path: Path) -> None:
    (tmp_path / "spool.sqlite").write_bytes(b"this is not an SQLite database, it is long enough to be read" * 20)
    with pytest.raises(SpoolError, match="cannot open the spool"):
        Spool(tmp_path)
    (tmp_path / "spool.sqlite").unlink()
    async with Spool(tmp_path) as spool:  # the lock was released
        assert spool.batches == 0
