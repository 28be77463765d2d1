"""What is in flight (streams, runs) and the graceful shutdown that waits for it."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from maghub.errors import UnavailableError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActiveSession:
    id: int
    kind: str  # "chat_stream", "graph_run", ...
    label: str


class ActivityTracker:
    """Counts the long-running work in flight; refuses new work once shutdown has begun."""

    def __init__(self) -> None:
        self._sessions: dict[int, ActiveSession] = {}
        self._ids = itertools.count(1)
        self._idle = asyncio.Event()
        self._idle.set()
        self.closing = False

    def check_open(self) -> None:
        """Raise if shutdown has begun, so that new work is refused before it starts."""
        if self.closing:
            raise UnavailableError("maghub is shutting down and takes no new work; try again after it restarts.")

    @contextmanager
    def session(self, kind: str, label: str = "") -> Iterator[ActiveSession]:
        self.check_open()
        active = ActiveSession(next(self._ids), kind, label)
        self._sessions[active.id] = active
        self._idle.clear()
        try:
            yield active
        finally:
            del self._sessions[active.id]
            if not self._sessions:
                self._idle.set()

    @property
    def count(self) -> int:
        return len(self._sessions)

    def snapshot(self) -> list[ActiveSession]:
        return list(self._sessions.values())

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class ShutdownController:
    """Turns a shutdown request into the hosting server's graceful exit, once."""

    def __init__(self, activity: ActivityTracker, request_exit: Callable[[], None]) -> None:
        self._activity = activity
        self._request_exit = request_exit
        self.requested = False

    def begin(self) -> int:
        """Stop taking new work; return how many sessions are still in flight."""
        self.requested = True
        self._activity.closing = True
        return self._activity.count

    def exit_server(self) -> None:
        log.info("shutdown requested", extra={"active_sessions": self._activity.count})
        self._request_exit()
