"""Stopping a stdio server ends its whole process tree (SPEC §4), whichever way it is stopped.

The checks run right after the stop returns, without waiting: the stop itself must have ended
everything.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Awaitable, Callable

import anyio
import anyio.to_thread
import pytest

from maghub.mcp.connections.status import ConnectionState, FailureKind
from maghub.mcp.connections.manager import MCPManager
from maghub.mcp.errors import ServerNotConnectedError
from maghub.mcp.configuration.server_config import parse_server_entry
from maghub.mcp.connections import process_tree
from maghub.mcp.connections.process_tree import ProcessEntry, tree_members
from maghub.testing.mcp_servers.harness import (
    FAST_POLICY,
    MARKER_VARIABLE,
    eventually,
    fixture_server,
    marked_processes,
    process_alive,
)

pytestmark = pytest.mark.skipif(not process_tree.AVAILABLE, reason="process trees are tracked through /proc (Linux)")


async def start_server_with_children(manager: MCPManager, marker: str) -> list[int]:
    """Connect a toolbox server that starts three children of different kinds; return all four pids."""
    await manager.apply([fixture_server("box", marker)])
    status = await manager.connect("box")
    assert status.state == ConnectionState.CONNECTED and status.pid is not None
    children = [
        int((await manager.call_tool("box", "spawn_grandchild", arguments)).text)
        for arguments in (
            {"keep_pipes": True},  # shares the server's stdio, like npx's node process
            {"keep_pipes": False},
            {"detach": True, "keep_pipes": False},  # a session of its own: out of the process group
        )
    ]
    pids = [status.pid, *children]
    assert all(process_alive(pid) for pid in pids)
    return pids


Stop = Callable[[MCPManager], Awaitable[object]]


@pytest.mark.parametrize(
    "stop",
    [
        pytest.param(lambda manager: manager.disconnect("box"), id="disconnect"),
        pytest.param(lambda manager: manager.apply([]), id="remove"),
        pytest.param(
            lambda manager: manager.apply([c.model_copy(update={"enabled": False}) for c in manager.configs()]),
            id="disable",
        ),
        pytest.param(lambda manager: manager.aclose(), id="shutdown"),
    ],
)
async def test_stopping_ends_the_server_and_all_its_children(marker: str, stop: Stop) -> None:
    async with MCPManager(FAST_POLICY) as manager:
        pids = await start_server_with_children(manager, marker)
        await stop(manager)
        assert [pid for pid in pids if process_alive(pid)] == []
    assert await anyio.to_thread.run_sync(marked_processes, marker) == []


async def test_leaving_the_manager_on_an_error_ends_everything(marker: str) -> None:
    pids: list[int] = []
    with pytest.raises(ZeroDivisionError):
        async with MCPManager(FAST_POLICY) as manager:
            pids = await start_server_with_children(manager, marker)
            1 / 0  # noqa: B018
    assert pids and [pid for pid in pids if process_alive(pid)] == []


async def test_reconnect_after_a_crash_ends_the_orphans_first(marker: str) -> None:
    async with MCPManager(FAST_POLICY) as manager:
        server, *children = await start_server_with_children(manager, marker)
        os.kill(server, signal.SIGKILL)
        await eventually(lambda: manager.server_status("box").pid not in (None, server), 10, "a new server process")
        assert [pid for pid in children if process_alive(pid)] == []


async def test_a_dead_server_is_noticed_even_when_a_child_holds_its_pipes(marker: str) -> None:
    # The shell's background `sleep` keeps the server's stdout open after the server is gone, so no
    # end of stream ever comes: only watching the process tells.
    script = f"sleep 300 & exec {sys.executable} -m maghub.testing.mcp_servers.toolbox"
    config = parse_server_entry("wrapped", {"command": "sh", "args": ["-c", script], "env": {MARKER_VARIABLE: marker}})
    async with MCPManager(FAST_POLICY) as manager:
        await manager.apply([config])
        first = await manager.connect("wrapped")
        assert first.state == ConnectionState.CONNECTED, first.last_error
        sleepers = [pid for pid in await anyio.to_thread.run_sync(marked_processes, marker) if pid != first.pid]
        assert len(sleepers) == 1

        # The pending call fails as soon as the death is noticed, long before its timeout.
        with pytest.raises(ServerNotConnectedError, match="lost during the call"):
            await manager.call_tool("wrapped", "crash", timeout=5)
        await eventually(
            lambda: (
                manager.server_status("wrapped").state == ConnectionState.CONNECTED
                and manager.server_status("wrapped").pid != first.pid
            ),
            10,
            "reconnected after the crash",
        )
        status = manager.server_status("wrapped")
        assert status.last_error_kind is None and status.recent_errors[-1].kind == FailureKind.CONNECTION_LOST
        assert not process_alive(sleepers[0])


def entry(pid: int, ppid: int, pgid: int, *, tag: str | None = None, zombie: bool = False) -> ProcessEntry:
    return ProcessEntry(pid=pid, ppid=ppid, pgid=pgid, start_time=pid * 10, zombie=zombie, tag=tag)


def test_tree_members_by_tag_group_parents_and_memory() -> None:
    table = [
        entry(100, 1, 100, tag="t"),  # the server
        entry(101, 100, 100, tag="t"),  # its child
        entry(102, 101, 102),  # a grandchild in a session of its own, without the tag: found by parent
        entry(103, 1, 100),  # orphaned, still in the group
        entry(104, 1, 104, tag="t"),  # orphaned and detached, still tagged
        entry(105, 1, 105),  # orphaned, detached, untagged: only remembered
        entry(106, 100, 100, tag="t", zombie=True),  # dead already
        entry(200, 1, 200, tag="other"),  # someone else's
        entry(201, 200, 200),
        entry(os.getpid(), 1, 100, tag="t"),  # never ourselves
    ]
    members = tree_members(table, "t", 100, {(105, 1050)})
    assert sorted(member.pid for member in members) == [100, 101, 102, 103, 104, 105]
    # A recycled pid is someone else: identity includes the start time.
    assert 105 not in {m.pid for m in tree_members(table, "t", 100, {(105, 999)})}
