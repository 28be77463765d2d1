"""Start a fixture server over SSE or streamable HTTP on a free loopback port, and stop it again.

The server runs as a separate process in a session of its own, so tests can kill it (and restart it
on the same port) the way a real remote server dies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Literal

import anyio.to_thread
import httpx2

from maghub.testing.process import free_port

HttpTransport = Literal["sse", "streamable-http"]

# The URL path each transport serves its endpoint on (the SDK's defaults).
_ENDPOINT_PATHS: dict[HttpTransport, str] = {"sse": "/sse", "streamable-http": "/mcp"}


@dataclass
class HttpFixtureServer:
    """A fixture server process; ``url`` is what a client connects to."""

    module: str
    transport: HttpTransport
    env: dict[str, str] = field(default_factory=dict)
    """Set over this process's environment (e.g. a marker that finds the process again)."""
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{_ENDPOINT_PATHS[self.transport]}"

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module, "--transport", self.transport, "--port", str(self.port)]

    def start(self, timeout: float = 15) -> None:
        """Start (again, on the same port) and wait until the endpoint answers HTTP."""
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{' '.join(self.command)} exited with {self.process.returncode} during startup")
            if self._answers():
                return
            time.sleep(0.05)
        self.kill()
        raise TimeoutError(f"{' '.join(self.command)} did not answer on port {self.port} within {timeout} s")

    async def astart(self, timeout: float = 15) -> None:
        """:meth:`start` without blocking the event loop (for async tests)."""
        await anyio.to_thread.run_sync(self.start, timeout)

    async def akill(self) -> None:
        """:meth:`kill` without blocking the event loop (for async tests)."""
        await anyio.to_thread.run_sync(self.kill)

    def _answers(self) -> bool:
        # Any HTTP answer (a 404 here) means uvicorn is serving; the endpoints themselves would not do:
        # a GET on the SSE endpoint streams forever.
        try:
            httpx2.get(f"http://127.0.0.1:{self.port}/__ready__", timeout=0.5)
        except httpx2.HTTPError:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL the server's whole process group, as a crash would end it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@asynccontextmanager
async def serving_over_http(
    transport: HttpTransport, module: str = "maghub.testing.mcp_servers.toolbox", env: dict[str, str] | None = None
) -> AsyncIterator[HttpFixtureServer]:
    """A fixture server over ``transport`` for the duration of the ``async with`` block."""
    server = HttpFixtureServer(module=module, transport=transport, env=env or {})
    await server.astart()
    try:
        yield server
    finally:
        await server.akill()
