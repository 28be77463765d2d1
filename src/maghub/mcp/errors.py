"""Errors of the MCP connection layer.

Each one also derives from the matching category in :mod:`maghub.errors`, so the HTTP layer maps it to
a status code without knowing about MCP (unknown server → 404, not connected → 503, …). ``str(error)``
is a message for the user: what is wrong and what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass

from maghub.errors import ConflictError, InvalidInputError, MaghubError, NotFoundError, UnavailableError


class MCPHubError(MaghubError):
    """Base class of every error raised by :mod:`maghub.mcp`."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a server configuration; ``server`` and ``field`` are None when unknown."""

    server: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.server is not None:
            where.append(f"MCP server {self.server!r}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class InvalidServerConfigError(MCPHubError, InvalidInputError):
    """One or more server configurations are invalid; ``problems`` lists every one of them."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(problem) for problem in problems))


class UnknownServerError(MCPHubError, NotFoundError):
    def __init__(self, name: str) -> None:
        self.server = name
        super().__init__(f"MCP server {name!r} is not configured; add it first or check the name.")


class ServerDisabledError(MCPHubError, ConflictError):
    def __init__(self, name: str) -> None:
        self.server = name
        super().__init__(f"MCP server {name!r} is disabled; enable it in its configuration to connect it.")


class ServerNotConnectedError(MCPHubError, UnavailableError):
    """The server has no live session (never connected, failed, or dropped during a call)."""

    def __init__(self, name: str, detail: str) -> None:
        self.server = name
        super().__init__(f"MCP server {name!r} is not connected: {detail}")


class ToolNotFoundError(MCPHubError, NotFoundError):
    def __init__(self, server: str, tool: str, available: list[str]) -> None:
        self.server = server
        self.tool = tool
        listed = ", ".join(sorted(available)[:20]) or "none"
        super().__init__(f"MCP server {server!r} has no tool {tool!r} (its tools: {listed}).")


class ToolTimeoutError(MCPHubError, UnavailableError):
    def __init__(self, server: str, tool: str, timeout: float) -> None:
        self.server = server
        self.tool = tool
        self.timeout = timeout
        super().__init__(
            f"Tool {tool!r} of MCP server {server!r} did not answer within {timeout:g} s; the call was "
            "cancelled. Raise the server's timeout if the tool is just slow."
        )
