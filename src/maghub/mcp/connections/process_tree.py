"""Find and end the whole process tree of a stdio MCP server.

The SDK starts each stdio server in a session (and process group) of its own, but it signals that
group only when the server ignores the close of its stdin; a server that exits promptly can leave its
children running (npx's node process, a browser a tool started, …), and the SDK does not expose the
pid. So each spawn carries a unique tag in its environment, and the process table tells the rest:

- the server is our direct child with the tag (its pid is also its process group id);
- its tree is every process with the tag, in its process group, or below it by parent links
  (which also covers children that moved to a session of their own), plus whatever was seen in the
  tree just before the shutdown began (children of a child that has since died).

Ending the tree: SIGTERM, a short grace, then SIGKILL, re-reading the table each round so that a
process forked meanwhile is caught too. Processes are identified by pid *and* start time, so a
recycled pid is never signalled.

Linux only (``/proc``). Elsewhere :data:`AVAILABLE` is False, the methods do nothing, and the SDK's own
group kill is all there is.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass

import anyio
import anyio.to_thread

log = logging.getLogger(__name__)

TAG_VARIABLE = "MAGHUB_MCP_PROCESS_TAG"
# Names the maghub process (and its data dir) that spawned a server: see maghub.mcp.connections.orphans.
OWNER_VARIABLE = "MAGHUB_MCP_OWNER"
AVAILABLE = os.path.exists("/proc/self/stat")

_POLL_INTERVAL = 0.05


@dataclass(frozen=True)
class ProcessEntry:
    pid: int
    ppid: int
    pgid: int
    start_time: int  # clock ticks after boot; (pid, start_time) survives pid reuse
    zombie: bool
    tag: str | None
    owner: str | None = None

    @property
    def identity(self) -> tuple[int, int]:
        return (self.pid, self.start_time)


def read_process_table() -> list[ProcessEntry]:
    """Every process we can see. Blocking (reads /proc): call it through a worker thread."""
    entries = []
    for name in os.listdir("/proc"):
        if name.isdigit() and (entry := _read_entry(int(name))) is not None:
            entries.append(entry)
    return entries


def _read_entry(pid: int, *, with_tag: bool = True) -> ProcessEntry | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            stat = stat_file.read()
    except OSError:
        return None  # gone meanwhile
    # The command name (2nd field) may contain spaces and parentheses: split after its last ")".
    fields = stat[stat.rfind(b")") + 2 :].split()
    variables = read_environment_variables(pid, (TAG_VARIABLE, OWNER_VARIABLE)) if with_tag else {}
    return ProcessEntry(
        pid=pid,
        ppid=int(fields[1]),
        pgid=int(fields[2]),
        start_time=int(fields[19]),
        zombie=fields[0] in (b"Z", b"X"),
        tag=variables.get(TAG_VARIABLE),
        owner=variables.get(OWNER_VARIABLE),
    )


def own_start_time() -> int:
    """This process's start time, as :class:`ProcessEntry` counts it (Linux only)."""
    entry = _read_entry(os.getpid(), with_tag=False)
    assert entry is not None
    return entry.start_time


def read_environment_variable(pid: int, name: str) -> str | None:
    """The value of ``name`` in the environment process ``pid`` started with (blocking)."""
    return read_environment_variables(pid, (name,)).get(name)


def read_environment_variables(pid: int, names: Iterable[str]) -> dict[str, str]:
    """The values of those of ``names`` that are in the environment process ``pid`` started with."""
    prefixes = {f"{name}=".encode(): name for name in names}
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ_file:
            environ = environ_file.read()
    except OSError:
        return {}  # another user's process, or gone
    found = {}
    for item in environ.split(b"\0"):
        name, sep, value = item.partition(b"=")
        if sep and (variable := prefixes.get(name + b"=")) is not None:
            found[variable] = value.decode(errors="replace")
    return found


def tree_members(
    table: Iterable[ProcessEntry], tag: str, group: int | None, seen: set[tuple[int, int]]
) -> list[ProcessEntry]:
    """The live processes of the tree identified by ``tag``, process ``group`` and ``seen`` ids."""
    alive = [entry for entry in table if not entry.zombie]
    found = [entry for entry in alive if entry.tag == tag or entry.pgid == group or entry.identity in seen]
    return with_descendants(alive, found)


def with_descendants(alive: list[ProcessEntry], found: Iterable[ProcessEntry]) -> list[ProcessEntry]:
    """``found`` and every process below them by parent links, among the ``alive``; never ourselves,
    whatever the table says."""
    members = {entry.pid: entry for entry in found}
    children: dict[int, list[ProcessEntry]] = {}
    for entry in alive:
        children.setdefault(entry.ppid, []).append(entry)
    pending = list(members)
    while pending:
        for child in children.get(pending.pop(), []):
            if child.pid not in members:
                members[child.pid] = child
                pending.append(child.pid)
    members.pop(os.getpid(), None)
    return list(members.values())


class ProcessTree:
    """The process tree of one stdio server spawn, known by the tag in its environment."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.root: ProcessEntry | None = None
        self._seen: set[tuple[int, int]] = set()

    @property
    def pid(self) -> int | None:
        return self.root.pid if self.root else None

    async def locate_root(self) -> None:
        """Find the server process; call right after the spawn."""
        if not AVAILABLE:
            return
        table = await anyio.to_thread.run_sync(read_process_table)
        own_pid = os.getpid()
        self.root = next((e for e in table if e.tag == self.tag and e.ppid == own_pid), None)

    def root_alive(self) -> bool:
        """Whether the server process still runs. Reads one small in-memory /proc file, so it is fine
        on the event loop."""
        if self.root is None:
            return True  # unknown: let the pipes tell
        entry = _read_entry(self.root.pid, with_tag=False)
        return entry is not None and entry.identity == self.root.identity and not entry.zombie

    async def remember_members(self) -> None:
        """Note the current tree, before a shutdown breaks its parent links."""
        if AVAILABLE:
            await self._members_now()  # remembers them

    async def terminate(self, grace: float) -> list[int]:
        """End every process of the tree: SIGTERM, ``grace`` seconds, SIGKILL. Returns the pids hit."""
        if not AVAILABLE:
            return []
        hit = await end_processes(self._members, grace)
        if hit:
            log.debug("ended MCP server processes", extra={"pids": hit})
        return hit

    def _members(self, table: list[ProcessEntry]) -> list[ProcessEntry]:
        group = self.root.pid if self.root else None
        members = tree_members(table, self.tag, group, self._seen)
        self._seen |= {member.identity for member in members}
        return members

    async def _members_now(self) -> list[ProcessEntry]:
        return self._members(await anyio.to_thread.run_sync(read_process_table))


async def end_processes(select: Callable[[list[ProcessEntry]], list[ProcessEntry]], grace: float) -> list[int]:
    """End the processes ``select`` picks from the process table: SIGTERM, ``grace`` seconds, SIGKILL,
    re-reading the table each round so that a process forked meanwhile is caught too. Returns the
    pids hit."""
    hit: set[int] = set()
    deadline = anyio.current_time() + grace
    sig = signal.SIGTERM
    while members := select(await anyio.to_thread.run_sync(read_process_table)):
        if anyio.current_time() >= deadline:
            sig = signal.SIGKILL
        for member in members:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(member.pid, sig)
            hit.add(member.pid)
        await anyio.sleep(_POLL_INTERVAL)
        if sig == signal.SIGKILL and anyio.current_time() > deadline + grace + 5:
            log.warning("processes survive SIGKILL", extra={"pids": sorted(m.pid for m in members)})
            break
    return sorted(hit)
