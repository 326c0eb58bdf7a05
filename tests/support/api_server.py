"""The planning API served by uvicorn inside the test's event loop, on a free loopback port.

For what Starlette's TestClient cannot do: an endless event stream read as it arrives, a slow client on a real
socket, and a test that runs the simulator in the same loop as the API. The lifespan runs as in production.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from services.api.app import create_app
from services.api.deps import ApiState
from services.api.settings import ApiSettings


@dataclass
class Served:
    app: FastAPI
    server: uvicorn.Server
    base_url: str
    port: int

    def stop(self) -> None:
        """Begin a graceful shutdown, as SIGTERM does (the context's exit waits for it)."""
        self.server.should_exit = True

    @property
    def state(self) -> ApiState:
        """The running app's state (its last-value cache, stream hub, command desk)."""
        state: ApiState = self.app.state.api
        return state


@asynccontextmanager
async def serving(settings: ApiSettings) -> AsyncIterator[Served]:
    app = create_app(settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="on", log_config=None, access_log=False, timeout_graceful_shutdown=3
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name="uvicorn")
    try:
        async with asyncio.timeout(15):
            while not server.started:
                if task.done():
                    task.result()  # raises what stopped it
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.02)
        port = int(server.servers[0].sockets[0].getsockname()[1])
        yield Served(app, server, f"http://127.0.0.1:{port}", port)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
