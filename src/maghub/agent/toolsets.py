"""Where the agent loop's ordinary tools come from: the :class:`ToolSet` protocol and its MCP
implementation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from maghub.mcp.errors import MCPHubError
from maghub.mcp.connections.manager import MCPManager
from maghub.mcp.results import ToolImage, error_text
from maghub.usage import Usage
from maghub.mcp.connections.status import ConnectionState

# How long MCPToolSet.when_ready waits for servers that are still connecting (e.g. right after start).
DEFAULT_READY_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """A tool call's result as the model reads it; failures read ``Error: …`` with ``is_error``."""

    text: str
    is_error: bool = False
    images: tuple[ToolImage, ...] = ()
    """Images the tool returned (the text names them), shown to models that read images."""
    usage: Usage | None = None
    """Tokens maghub's models spent on the call (serving the server's sampling requests)."""


class ToolSet(Protocol):
    """Tools the loop may offer to a model and run.

    ``schemas`` are OpenAI function-tool schemas whose names fit ``^[a-zA-Z0-9_-]{1,64}$``; they must
    not change during a run. ``call`` runs one of them and reports failures as an error outcome
    rather than raising (the loop still guards against exceptions, as a bug in a tool set must not
    leave a tool call unanswered); it may be called concurrently and must stop when cancelled.
    """

    def schemas(self) -> Sequence[Mapping[str, Any]]: ...

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome: ...


class MCPToolSet:
    """The tools of some MCP servers, as the servers offer them when the set is made.

    Names follow SPEC §4 (a tool's own name, ``server__tool`` on a collision). The tool list is a
    snapshot so that the names a model sees stay valid for the whole run; make a new set per run.
    Servers that are not connected contribute no tools and are listed in ``unavailable_servers``.
    Raises UnknownServerError for a name that is not configured.
    """

    def __init__(self, manager: MCPManager, server_names: Iterable[str]) -> None:
        self._manager = manager
        self.server_names = list(dict.fromkeys(server_names))
        self._tools = manager.openai_tools(self.server_names)
        self.unavailable_servers = [
            name for name in self.server_names if manager.server_status(name).state != ConnectionState.CONNECTED
        ]

    @classmethod
    async def when_ready(
        cls, manager: MCPManager, server_names: Iterable[str], *, timeout: float = DEFAULT_READY_TIMEOUT
    ) -> MCPToolSet:
        """A set made once none of the servers is still connecting (at most ``timeout`` seconds),
        so that a run started right after maghub starts sees their tools."""
        names = list(dict.fromkeys(server_names))
        await manager.wait_settled(names, timeout=timeout)
        return cls(manager, names)

    def schemas(self) -> Sequence[Mapping[str, Any]]:
        return self._tools.schemas

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        route = self._tools.routes.get(name)
        if route is None:
            return ToolOutcome(error_text(f"there is no MCP tool named {name!r}"), is_error=True)
        try:
            # The server's own timeout applies; cancelling this task cancels the call on the server.
            result = await self._manager.call_tool(route.server, route.tool, arguments)
        except MCPHubError as exc:  # no answer could be had: server gone, disabled, tool removed, timeout
            return ToolOutcome(error_text(str(exc)), is_error=True)
        return ToolOutcome(result.text, result.is_error, result.images, result.sampling_usage)


async def offer_tools(manager: MCPManager, servers: Sequence[str]) -> tuple[MCPToolSet, list[str]]:
    """The tools of ``servers`` for one run of the agent loop, and why any of them offers none.

    Enabled servers that are idle (never connected, or disconnected) are connected first, as the
    original did; a disabled server, or one that cannot connect, gets a notice for the user."""
    notices = []
    for name in dict.fromkeys(servers):
        config = manager.config(name)
        if not config.enabled:
            notices.append(f"MCP server '{name}' is disabled; its tools are not offered. Enable it to use them.")
        elif manager.server_status(name).state == ConnectionState.DISCONNECTED:
            await manager.connect(name, wait=False)
    toolset = await MCPToolSet.when_ready(manager, servers)
    for name in toolset.unavailable_servers:
        if manager.config(name).enabled:
            status = manager.server_status(name)
            reason = f": {status.last_error}" if status.last_error else ""
            notices.append(f"MCP server '{name}' is not connected{reason}; its tools are not offered.")
    return toolset, notices
