"""Following the city file at run time: devices added to (or removed from) the city are accepted (or refused) by
a running process without a restart.

:func:`follow_city` looks at the file's identity (inode, size, modification time) every ``interval_s``; when it
changed it loads the file and hands the new city to ``apply``. A file that does not load (half written, invalid)
is logged at WARNING and the process keeps the city it has, until the file changes again. Write a new city file
next to the old one and rename it over it, so a reader never sees half a file.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from smartcity.city.load import CityFileError, load_city
from smartcity.city.model import City

log = logging.getLogger(__name__)


def file_identity(path: Path) -> tuple[int, int, int] | None:
    """What changes when the file is replaced or rewritten; None when it is missing."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_ino, found.st_size, found.st_mtime_ns)


async def follow_city(path: Path, apply: Callable[[City], None], *, interval_s: float) -> None:
    """Call ``apply`` with the city each time the file at ``path`` changes (until cancelled)."""
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
        apply(city)
        log.info("city file %s reloaded: %d devices", path, len(city.devices))
