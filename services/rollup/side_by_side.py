"""Tasks of one unit of work run side by side, failing as one: the first failure leaves as itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def side_by_side() -> AsyncIterator[asyncio.TaskGroup]:
    """An :class:`asyncio.TaskGroup` whose first failure is raised as itself (an
    :class:`~smartcity.influx.errors.InfluxError` the worker retries, say), not wrapped in an ExceptionGroup. As
    with any TaskGroup the other tasks are cancelled first, and the caller's own cancellation passes through."""
    try:
        async with asyncio.TaskGroup() as group:
            yield group
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
