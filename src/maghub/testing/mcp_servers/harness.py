"""Helpers for tests that run fixture servers through the MCP connection layer."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread

from maghub.mcp.configuration.server_config import ServerConfig, parse_server_entry
from maghub.mcp.connections.policy import ConnectionPolicy
from maghub.mcp.connections.process_tree import read_environment_variable

# Set in every fixture server's environment, so that a test can find all processes it started
# (and their children) in the process table, wherever they were reparented to.
MARKER_VARIABLE = "MAGHUB_TEST_MARKER"

# Every delay short, so that reconnects and liveness checks happen within a test's patience.
FAST_POLICY = ConnectionPolicy(
    handshake_timeout=20.0,
    package_runner_timeout=20.0,
    backoff_initial=0.1,
    backoff_max=0.5,
    backoff_jitter=0.0,
    heartbeat_interval=0.5,
    request_timeout=5.0,
    process_poll_interval=0.1,
    kill_grace=0.5,
)


def new_marker() -> str:
    return uuid.uuid4().hex


def fixture_server(name: str, marker: str, module: str = "toolbox", **fields: Any) -> ServerConfig:
    """A stdio config that runs ``maghub.testing.mcp_servers.<module>`` with this Python."""
    entry = {
        "command": sys.executable,
        "args": ["-m", f"maghub.testing.mcp_servers.{module}"],
        "env": {MARKER_VARIABLE: marker},
        **fields,
    }
    return parse_server_entry(name, entry)


def marked_processes(marker: str) -> list[int]:
    """Live processes (zombies excluded) that carry ``marker``. Blocking: reads /proc."""
    return [
        int(name)
        for name in os.listdir("/proc")
        if name.isdigit()
        and read_environment_variable(int(name), MARKER_VARIABLE) == marker
        and process_alive(int(name))
    ]


async def wait_for_no_marked_processes(marker: str, timeout: float = 5.0) -> list[int]:
    """Wait until no process carries ``marker``; returns those still alive after ``timeout``."""
    with anyio.move_on_after(timeout):
        while await anyio.to_thread.run_sync(marked_processes, marker):
            await anyio.sleep(0.05)
    return await anyio.to_thread.run_sync(marked_processes, marker)


def process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            return stat_file.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return False


async def eventually(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    with anyio.move_on_after(timeout):
        while not condition():
            await anyio.sleep(0.02)
        return
    raise AssertionError(f"not within {timeout} s: {what}")
