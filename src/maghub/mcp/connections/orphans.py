"""End the stdio server processes a previous maghub of the same data dir left running.

A maghub that is killed outright (``kill -9``, the OOM killer, a power-cut container) cannot end its
servers' process trees. Servers that read their stdin usually exit when the pipe closes, but their
children (npx's node process, a browser a tool started, …) keep running, and a restart would start a
second set next to them. So every stdio server maghub spawns carries, in its environment, which
maghub process started it and for which data dir (:data:`OWNER_VARIABLE`): ``pid:start-time:path``.
Children inherit the environment, and those that do not are found below a tagged process by parent
links. At startup maghub ends every tree tagged with its own data dir whose maghub is gone: the
(pid, start time) pair is not running anymore. Servers of a maghub that still runs, on this data dir
or another, and of other data dirs are never touched.

Linux only (``/proc``), like :mod:`maghub.mcp.connections.process_tree`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio

from maghub.mcp.connections.process_tree import (
    AVAILABLE,
    ProcessEntry,
    end_processes,
    own_start_time,
    with_descendants,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessOwner:
    """A maghub process and the data dir it serves."""

    pid: int
    start_time: int
    data_dir: str

    @property
    def tag(self) -> str:
        return f"{self.pid}:{self.start_time}:{self.data_dir}"

    @classmethod
    def parse(cls, tag: str | None) -> ProcessOwner | None:
        pid, _, rest = (tag or "").partition(":")
        start_time, _, data_dir = rest.partition(":")
        if not (pid.isdigit() and start_time.isdigit() and data_dir):
            return None
        return cls(int(pid), int(start_time), data_dir)

    @classmethod
    def this_process(cls, data_dir: Path) -> ProcessOwner | None:
        """This maghub, serving ``data_dir``; None where processes cannot be told apart (no /proc)."""
        if not AVAILABLE:
            return None
        return cls(os.getpid(), own_start_time(), os.path.realpath(data_dir))


def left_behind(table: list[ProcessEntry], owner: ProcessOwner) -> list[ProcessEntry]:
    """The live processes another, no longer running maghub of ``owner``'s data dir started, with
    everything below them."""
    alive = [entry for entry in table if not entry.zombie]
    running = {entry.identity for entry in alive}
    orphans = []
    for entry in alive:
        spawner = ProcessOwner.parse(entry.owner)
        if (
            spawner is not None
            and spawner.data_dir == owner.data_dir
            and spawner != owner
            and (spawner.pid, spawner.start_time) not in running
        ):
            orphans.append(entry)
    return with_descendants(alive, orphans)


async def end_left_behind(owner: ProcessOwner, grace: float) -> list[int]:
    """End what :func:`left_behind` finds (SIGTERM, ``grace``, SIGKILL); returns the pids hit. Processes
    once found stay targets after their parent died and they were reparented."""
    seen: set[tuple[int, int]] = set()

    def select(table: list[ProcessEntry]) -> list[ProcessEntry]:
        found = {entry.identity: entry for entry in left_behind(table, owner)}
        found |= {entry.identity: entry for entry in table if entry.identity in seen and not entry.zombie}
        seen.update(found)
        return list(found.values())

    hit = await end_processes(select, grace)
    if hit:
        log.warning(
            "ended %d MCP server processes a previous maghub of this data dir left running",
            len(hit),
            extra={"pids": hit, "data_dir": owner.data_dir},
        )
    return hit


@asynccontextmanager
async def ending_left_behind(owner: ProcessOwner | None, grace: float) -> AsyncIterator[None]:
    """Ends what a previous maghub left running, in the background: startup does not wait for it (the
    new servers carry this process's tag, so they are never mistaken for leftovers)."""
    if owner is None:
        yield
        return

    async def sweep() -> None:
        try:
            await end_left_behind(owner, grace)
        except Exception:  # a failed cleanup must not take the server down
            log.exception("could not end the processes a previous maghub left running")

    async with anyio.create_task_group() as background:
        background.start_soon(sweep)
        try:
            yield
        finally:
            background.cancel_scope.cancel()
