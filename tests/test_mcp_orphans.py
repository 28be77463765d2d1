"""A maghub killed outright leaves its stdio servers' children running; the next maghub on the same
data dir ends them at startup, and leaves alone what belongs to a maghub that still runs or to
another data dir. maghub runs as a real process (``maghub serve``), killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import httpx2
import pytest

from maghub.mcp.connections import process_tree
from maghub.mcp.connections.orphans import ProcessOwner, left_behind
from maghub.mcp.connections.process_tree import ProcessEntry, read_environment_variable
from maghub.testing.mcp_servers.harness import MARKER_VARIABLE, eventually, marked_processes, process_alive
from maghub.testing.process import MaghubProcess

pytestmark = pytest.mark.skipif(not process_tree.AVAILABLE, reason="processes are told apart through /proc (Linux)")


class Instances:
    """maghub processes of one test, all stopped at its end."""

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._started: list[MaghubProcess] = []

    async def start(self, data_dir: Path, *, database_of_its_own: bool = False) -> MaghubProcess:
        """``database_of_its_own``: the data dir's SQLite file instead of the test's database (whose
        secrets are encrypted with another data dir's key)."""
        database = () if database_of_its_own else ("--database-url", self._database_url)
        process = MaghubProcess(data_dir, *database, "--log-level", "warning")
        self._started.append(process)
        await anyio.to_thread.run_sync(process.wait_ready)
        return process

    def stop_all(self) -> None:
        for process in self._started:
            process.stop()


@pytest.fixture
def instances(database_url: str) -> Iterator[Instances]:
    started = Instances(database_url)
    yield started
    started.stop_all()


def owner_pid(pid: int) -> int | None:
    owner = ProcessOwner.parse(read_environment_variable(pid, process_tree.OWNER_VARIABLE))
    return owner.pid if owner else None


async def start_server_with_children(maghub: MaghubProcess, marker: str) -> tuple[list[int], list[int]]:
    """Configure a toolbox server that starts three children of different kinds; return the pids of
    the server and its children (all carry the marker), and those of the children alone."""
    toolbox = {
        "command": sys.executable,
        "args": ["-m", "maghub.testing.mcp_servers.toolbox"],
        "env": {MARKER_VARIABLE: marker},
    }
    children: list[int] = []
    async with httpx2.AsyncClient(base_url=maghub.url, timeout=30) as client:
        added = await client.post("/mcp/add", json={"mcpServers": {"box": toolbox}})
        assert added.json()["added_servers"] == ["box"], added.text  # test-tool waits for it to connect
        for arguments in ({"keep_pipes": True}, {"keep_pipes": False}, {"detach": True, "keep_pipes": False}):
            call = {"server_name": "box", "tool_name": "spawn_grandchild", "params": arguments}
            called = await client.post("/mcp/test-tool", json=call)
            assert called.json()["status"] == "success", called.text
            children.append(int(called.json()["result"]))
    pids = [
        pid for pid in await anyio.to_thread.run_sync(marked_processes, marker) if owner_pid(pid) == maghub.proc.pid
    ]
    assert len(pids) == 4 and set(children) < set(pids), (pids, children)
    return pids, children


def kill_outright(maghub: MaghubProcess) -> None:
    os.kill(maghub.proc.pid, signal.SIGKILL)
    maghub.proc.wait(timeout=10)


async def test_a_restart_ends_what_a_killed_maghub_left_running(
    marker: str, tmp_path: Path, instances: Instances
) -> None:
    # ``marker`` first: its check that nothing is left runs after the maghubs are stopped.
    data_dir, other_data_dir = tmp_path / "data", tmp_path / "other"
    first = await instances.start(data_dir)
    left, children = await start_server_with_children(first, marker)
    kill_outright(first)
    # The server may notice its closed stdin and exit; its children do not.
    await anyio.sleep(0.5)
    assert all(process_alive(pid) for pid in children), "the scenario needs processes that outlive maghub"

    # A maghub of another data dir does not touch them.
    await instances.start(other_data_dir, database_of_its_own=True)
    await anyio.sleep(2)
    assert all(process_alive(pid) for pid in children)

    # A maghub of the same data dir ends them all, and keeps the server it starts itself.
    second = await instances.start(data_dir)
    await eventually(lambda: not any(process_alive(pid) for pid in left), 15, "the old instance's processes ended")
    await eventually(
        lambda: any(owner_pid(pid) == second.proc.pid for pid in marked_processes(marker)),
        15,
        "the new instance's own server running",
    )
    own = [pid for pid in marked_processes(marker) if owner_pid(pid) == second.proc.pid]

    # A third maghub on the same data dir while the second still runs: the second's servers are not
    # left behind, they are another live instance's.
    await instances.start(data_dir)
    await anyio.sleep(2)
    assert all(process_alive(pid) for pid in own)


def entry(pid: int, ppid: int, *, owner: str | None = None, start: int | None = None) -> ProcessEntry:
    return ProcessEntry(pid=pid, ppid=ppid, pgid=pid, start_time=start or pid * 10, zombie=False, tag=None, owner=owner)


def test_left_behind_is_only_a_dead_maghub_of_the_same_data_dir() -> None:
    me = ProcessOwner(pid=10, start_time=100, data_dir="/data")
    dead = ProcessOwner(pid=20, start_time=200, data_dir="/data").tag
    recycled = ProcessOwner(pid=30, start_time=299, data_dir="/data").tag  # pid 30 now is someone else
    live_twin = ProcessOwner(pid=40, start_time=400, data_dir="/data").tag
    dead_elsewhere = ProcessOwner(pid=50, start_time=500, data_dir="/data/elsewhere").tag
    table = [
        entry(10, 1),  # this maghub
        entry(11, 10, owner=me.tag),  # its own server
        entry(30, 1),  # a process that got the pid of a dead maghub
        entry(40, 1),  # a maghub of the same data dir that still runs
        entry(41, 40, owner=live_twin),
        entry(100, 1, owner=dead),  # orphaned server
        entry(101, 100),  # its child, without the tag: found by parent link
        entry(102, 1, owner=dead),  # a detached child
        entry(103, 1, owner=recycled),
        entry(104, 1, owner=dead_elsewhere),
        entry(105, 1, owner="garbage"),
        entry(106, 40, owner="20:200:/data"[:-1]),  # data dir /dat: another data dir
    ]
    assert sorted(e.pid for e in left_behind(table, me)) == [100, 101, 102, 103]
    assert ProcessOwner.parse(me.tag) == me
    assert ProcessOwner.parse("1:2:/a:b/c") == ProcessOwner(1, 2, "/a:b/c")
    assert [ProcessOwner.parse(bad) for bad in (None, "", "x:1:/d", "1:2:", "1:2")] == [None] * 5
