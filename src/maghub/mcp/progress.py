"""Progress notifications of running tool calls (SPEC §13 Client side).

Whoever runs a tool call and wants its progress installs a listener with :func:`listening` around
the call; the MCP connection passes the server's notifications to it. A context variable rather
than a parameter: the call passes through the tool set, the manager and the connection, none of
which has any use for it, and each concurrent call runs in its own task with its own listener.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ToolProgress:
    server: str
    tool: str
    progress: float
    total: float | None = None
    message: str | None = None

    def payload(self) -> dict[str, Any]:
        """The fields of a ``tool_progress`` stream event (``total`` and ``message`` only when sent)."""
        fields: dict[str, Any] = {"server": self.server, "tool": self.tool, "progress": self.progress}
        if self.total is not None:
            fields["total"] = self.total
        if self.message:
            fields["message"] = self.message
        return fields


ProgressListener = Callable[[ToolProgress], None]

_listener: ContextVar[ProgressListener | None] = ContextVar("maghub_tool_progress_listener", default=None)


@contextmanager
def listening(listener: ProgressListener) -> Iterator[None]:
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def current_listener() -> ProgressListener | None:
    return _listener.get()
