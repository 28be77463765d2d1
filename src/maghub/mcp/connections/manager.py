"""MCPManager: every configured MCP server's connection, in one place.

Enter it in the task that lives as long as the application (the lifespan)::

    async with MCPManager() as mcp:
        await mcp.apply(configs)          # returns at once; servers connect in the background
        ...
    # leaving ends every connection and every stdio server process

The manager owns a task group whose tasks are the connections' owner tasks; its methods may be called
from any task of the same event loop (request handlers, agent runs).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio
import anyio.abc

from maghub.mcp.configuration.server_config import ServerConfig, check_unique_names
from maghub.mcp.connections.connection import ServerConnection
from maghub.mcp.errors import ServerDisabledError, ToolNotFoundError, UnknownServerError
from maghub.mcp.connections.policy import ConnectionPolicy
from maghub.mcp.connections.probe import ProbeResult, probe_server
from maghub.mcp.results import ToolCallResult
from maghub.mcp.connections.status import ConnectionState, ServerStatus
from maghub.mcp.tools import OpenAITools, ToolSpec, build_openai_tools
from maghub.observability.seams import tool_call_observed

if TYPE_CHECKING:
    from maghub.mcp.connections.live import LiveSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApplyResult:
    """Server names by what :meth:`MCPManager.apply` did with them."""

    added: list[str]
    changed: list[str]
    """Configs that differ; only those whose connection settings changed were reconnected."""
    removed: list[str]
    unchanged: list[str]


class MCPManager:
    def __init__(self, policy: ConnectionPolicy | None = None) -> None:
        self.policy = policy or ConnectionPolicy()
        self._connections: dict[str, ServerConnection] = {}
        self._connect_slots = anyio.CapacityLimiter(self.policy.max_parallel_connects)
        self._task_group: anyio.abc.TaskGroup | None = None
        self._closing = False
        self._config_lock = anyio.Lock()  # one apply at a time: each diffs against the last

    async def __aenter__(self) -> Self:
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Shielded: a cancelled application must still end its servers' processes (bounded in time).
        with anyio.CancelScope(shield=True):
            await self.aclose()
        task_group, self._task_group = self._task_group, None
        if task_group is not None:
            # Every owner task has finished; the caller's own exception (if any) propagates unwrapped.
            await task_group.__aexit__(None, None, None)

    async def aclose(self) -> None:
        """Disconnect every server and end all their processes. Starting connections is refused after."""
        self._closing = True
        await self._stop_each(list(self._connections.values()))

    # --- configuration -----------------------------------------------------------------------------

    async def apply(self, configs: Iterable[ServerConfig], *, connect: bool = True) -> ApplyResult:
        """Make ``configs`` the set of servers. New and changed enabled servers connect in the
        background (this never waits for a connection; with ``connect=False`` they wait for
        :meth:`connect`); removed servers are stopped, and so are changed ones before they
        reconnect; untouched servers keep their sessions."""
        wanted = list(configs)
        check_unique_names(wanted)
        task_group = self._require_open()
        async with self._config_lock:
            new = {config.name: config for config in wanted}
            removed = [name for name in self._connections if name not in new]
            added = [name for name in new if name not in self._connections]
            changed = [
                name for name in new if name in self._connections and self._connections[name].config != new[name]
            ]
            unchanged = [name for name in new if name not in added and name not in changed]
            # A change of connection settings makes a new connection; other changes (timeout, enabled,
            # auto_approve, extras) apply to the running one.
            replaced = [
                name
                for name in changed
                if self._connections[name].config.connection_settings != new[name].connection_settings
            ]
            disabled = [name for name in changed if not new[name].enabled and name not in replaced]
            await self._stop_each([self._connections[name] for name in (*removed, *replaced, *disabled)])

            for name in removed:
                del self._connections[name]
            to_start = [*added, *replaced]
            for name in to_start:
                self._connections[name] = ServerConnection(new[name], self.policy, self._connect_slots)
            for name in changed:
                if name not in replaced:
                    connection = self._connections[name]
                    if new[name].enabled and not connection.config.enabled:
                        to_start.append(name)
                    connection.config = new[name]
            for name in to_start:
                if connect and new[name].enabled:
                    await self._connections[name].start(task_group)

        if added or changed or removed:
            log.info("MCP servers configured", extra={"added": added, "changed": changed, "removed": removed})
        return ApplyResult(added=added, changed=changed, removed=removed, unchanged=unchanged)

    def configs(self) -> list[ServerConfig]:
        return [connection.config for connection in self._connections.values()]

    def config(self, name: str) -> ServerConfig:
        return self._connection(name).config

    # --- connecting --------------------------------------------------------------------------------

    async def connect(self, name: str, *, wait: bool = True, timeout: float | None = None) -> ServerStatus:
        """Connect ``name`` (or retry it now if it waits to retry). With ``wait``, return once the
        attempt is over — connected or failed — or after ``timeout`` seconds, still connecting."""
        connection = self._connection(name)
        if not connection.config.enabled:
            raise ServerDisabledError(name)
        await connection.start(self._require_open())
        if wait:
            with anyio.move_on_after(timeout):
                await connection.wait_settled()
        return connection.status()

    async def connect_all(self, *, wait: bool = True, timeout: float | None = None) -> dict[str, ServerStatus]:
        """Connect every enabled server, in parallel (disabled ones are left alone)."""
        task_group = self._require_open()
        enabled = [c for c in self._connections.values() if c.config.enabled]
        for connection in enabled:
            await connection.start(task_group)
        if wait:
            await self.wait_settled([c.name for c in enabled], timeout=timeout)
        return self.status()

    async def disconnect(self, name: str) -> ServerStatus:
        """Disconnect ``name`` and stop retrying; returns once its processes have ended."""
        connection = self._connection(name)
        await connection.stop()
        return connection.status()

    async def wait_settled(self, names: Iterable[str] | None = None, *, timeout: float | None = None) -> None:
        """Wait until none of ``names`` (default: all) is still connecting, for at most ``timeout`` s;
        e.g. before offering tools to an LLM right after startup."""
        connections = self._select(names)
        with anyio.move_on_after(timeout):
            async with anyio.create_task_group() as waiters:
                for connection in connections:
                    waiters.start_soon(connection.wait_settled)

    # --- state -------------------------------------------------------------------------------------

    def status(self) -> dict[str, ServerStatus]:
        return {name: connection.status() for name, connection in self._connections.items()}

    def server_status(self, name: str) -> ServerStatus:
        return self._connection(name).status()

    def tools(self, names: Iterable[str] | None = None) -> list[ToolSpec]:
        """The cached tools of the connected servers among ``names`` (default: all), in order."""
        return [tool for connection in self._select(names) for tool in connection.tools]

    def openai_tools(self, server_names: Iterable[str] | None = None) -> OpenAITools:
        """Tool schemas for an LLM request and the route of each name, over the connected servers among
        ``server_names`` (SPEC §4 naming: own names when unique, ``server__tool`` on a collision)."""
        return build_openai_tools(self.tools(server_names))

    # --- calling -----------------------------------------------------------------------------------

    async def call_tool(
        self, server: str, tool: str, arguments: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> ToolCallResult:
        """Call ``tool`` on ``server`` within ``timeout`` (default: the server's). Failures the server
        reports come back as results with ``is_error``; failures to get an answer raise:
        UnknownServerError, ServerDisabledError, ServerNotConnectedError, ToolNotFoundError,
        ToolTimeoutError. Cancelling the caller cancels the call."""
        connection = self._connection(server)
        if not connection.config.enabled:
            raise ServerDisabledError(server)
        if connection.state == ConnectionState.CONNECTED and not await connection.offers_tool(tool):
            raise ToolNotFoundError(server, tool, [spec.name for spec in connection.tools])
        with tool_call_observed(server, tool) as observed:
            result = await connection.call_tool(tool, arguments, timeout or connection.config.timeout)
            observed.status = "error" if result.is_error else "ok"
        return result

    def live_session(self, server: str) -> LiveSession:
        """The connected session of ``server`` for requests other than tool calls (the gateway passes
        resources and prompts through it). Raises UnknownServerError, ServerDisabledError or
        ServerNotConnectedError."""
        connection = self._connection(server)
        if not connection.config.enabled:
            raise ServerDisabledError(server)
        return connection.live_session()

    async def probe(self, config: ServerConfig) -> ProbeResult:
        """Try ``config`` once without registering it (for "test" endpoints)."""
        return await probe_server(config, self.policy)

    # --- helpers -----------------------------------------------------------------------------------

    def _connection(self, name: str) -> ServerConnection:
        try:
            return self._connections[name]
        except KeyError:
            raise UnknownServerError(name) from None

    def _select(self, names: Iterable[str] | None) -> list[ServerConnection]:
        if names is None:
            return list(self._connections.values())
        return [self._connection(name) for name in dict.fromkeys(names)]

    def _require_open(self) -> anyio.abc.TaskGroup:
        if self._task_group is None or self._closing:
            raise RuntimeError("MCPManager is not running: use it as `async with MCPManager() as manager:`")
        return self._task_group

    @staticmethod
    async def _stop_each(connections: Sequence[ServerConnection]) -> None:
        async with anyio.create_task_group() as stops:
            for connection in connections:
                stops.start_soon(connection.stop)
