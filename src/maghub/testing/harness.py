"""Run a real maghub (uvicorn, real sockets, real lifespan) inside the current event loop.

Used by the test suite and the benchmarks; nothing in it stands in for maghub's own code.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from typing import Any

import httpx2
import uvicorn

from maghub.service.server import bind_listener, build_server, local_url
from maghub.settings import Settings


@dataclass
class RunningMaghub:
    url: str
    settings: Settings
    server: uvicorn.Server
    client: httpx2.AsyncClient

    @property
    def runtime(self):  # noqa: ANN201 - maghub.runtime.Runtime, imported lazily by callers
        app: Any = self.server.config.app
        return app.state.runtime


@asynccontextmanager
async def running_maghub(settings: Settings, *, startup_timeout: float = 30.0) -> AsyncIterator[RunningMaghub]:
    sock = bind_listener(settings.host, settings.port)
    settings.port = sock.getsockname()[1]
    server = build_server(settings)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(startup_timeout):
            while not server.started:
                if task.done():
                    task.result()  # re-raise the startup failure
                    raise RuntimeError("maghub exited during startup")
                await asyncio.sleep(0.01)
        url = local_url(settings.host, settings.port)
        async with httpx2.AsyncClient(base_url=url, timeout=30) as client:
            yield RunningMaghub(url=url, settings=settings, server=server, client=client)
    finally:
        server.should_exit = True
        await task
        sock.close()
