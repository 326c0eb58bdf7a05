"""Following the city file at run time: devices added to (or removed from) the city are accepted (or refused) by
a running process without a restart.

:func:`follow_city` looks at the file's identity (inode, size, modification time) every ``interval_s``; when it
changed it loads the file, builds what the process needs of it off the event loop and hands that to ``apply``. A
file that does not load (half written, invalid) is logged at WARNING and the process keeps the city it has, until
the file changes again. Write a new city file next to the old one and rename it over it, so a reader never sees
half a file.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from smartcity.city.load import CityFileError, load_city
from smartcity.city.model import City

log = logging.getLogger(__name__)
T = TypeVar("T")


def file_identity(path: Path) -> tuple[int, int, int] | None:
    """What changes when the file is replaced or rewritten; None when it is missing."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_ino, found.st_size, found.st_mtime_ns)


async def follow_city(
    path: Path, prepare: Callable[[City], T], apply: Callable[[T], None], *, interval_s: float
) -> None:
    """Each time the file at ``path`` changes (until cancelled): load it and ``prepare`` what the process needs of
    the city in a worker thread (an index of 100,000 devices takes most of a second to build), then ``apply`` it
    in the event loop (a swap of references, so every request or message sees the old city or the new one)."""
    seen = file_identity(path)
    while True:
        await asyncio.sleep(interval_s)
        now = file_identity(path)
        if now is None or now == seen:
            continue
        seen = now
        try:
            city = await asyncio.to_thread(load_city, path)
        except (CityFileError, OSError) as exc:
            log.warning("city file %s changed but does not load (keeping the city in use): %s", path, exc)
            continue
        apply(await asyncio.to_thread(prepare, city))
        log.info("city file %s reloaded: %d devices", path, len(city.devices))
