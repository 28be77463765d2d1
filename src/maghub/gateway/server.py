"""The gateway's MCP server: the SDK's low-level ``Server`` with maghub's handlers, its streamable-HTTP
session manager, and the watcher that tells clients when the tool list changed.

One server serves the three endpoints; which part a request reaches, and for whom, comes from the
HTTP layer in the ASGI scope (:data:`maghub.gateway.caller.SCOPE_KEY`). Both protocol eras are served:
the initialize handshake (SDK 1.x clients, 2025-xx versions) and the 2026-07-28 per-request envelope.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.session import ServerSession
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ToolsListChanged
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.types import Receive, Scope, Send

from maghub import __version__
from maghub.errors import MaghubError
from maghub.gateway.caller import SCOPE_KEY, GatewayCaller
from maghub.gateway.catalog import GraphTool, ServerTool, build_catalog
from maghub.gateway.graph_calls import GraphCall, run_graph
from maghub.gateway.passthrough import Passthrough
from maghub.graphs.definition.registry import GraphSummary
from maghub.mcp.results import ToolCallResult

if TYPE_CHECKING:
    from maghub.service.runtime import Runtime

log = logging.getLogger(__name__)

CHANGE_POLL_SECONDS = 2.0
MAX_REMEMBERED_SESSIONS = 1024
SESSION_HEADER = "mcp-session-id"
INSTRUCTIONS = (
    "maghub's MCP gateway: each agent graph is a tool (input text in, final result out, the run's "
    "conversation_id in the structured result); each tool of a connected MCP server is offered as "
    "server__tool, unchanged."
)


class _GatewayServer(Server[Any]):
    def create_initialization_options(
        self, notification_options: NotificationOptions | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        # Handshake-era clients learn of list changes only if the capability says so.
        options = notification_options or NotificationOptions(tools_changed=True)
        return super().create_initialization_options(options, *args, **kwargs)


class Gateway:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._passthrough = Passthrough(runtime.mcp.manager)
        self._bus = InMemorySubscriptionBus()
        self._listen = ListenHandler(self._bus)
        # Handshake-era sessions, by session id: where a tools/list_changed notification goes.
        self._sessions: dict[str, ServerSession] = {}
        # The graphs as last read (by a list or the change watcher): a proxied call finds its tool
        # without reading the database; graph calls (and unknown names) read the graphs again.
        self._graphs: list[GraphSummary] = []
        self.server = _GatewayServer(
            "maghub",
            version=__version__,
            instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_resource_templates,
            on_read_resource=self._read_resource,
            on_list_prompts=self._list_prompts,
            on_get_prompt=self._get_prompt,
            on_subscriptions_listen=self._listen,
        )
        self.sessions = StreamableHTTPSessionManager(
            app=self.server,
            # maghub's own middleware checks Host and Origin for every route (SPEC §9); the SDK's
            # loopback-only check would refuse names that maghub allows.
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            max_request_body_size=runtime.settings.max_body_bytes,
        )

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """Serve sessions until left; leaving ends them (their graph runs are cancelled)."""
        async with self.sessions.run(), anyio.create_task_group() as watchers:
            watchers.start_soon(self._watch_changes)
            try:
                yield
            finally:
                watchers.cancel_scope.cancel()

    async def handle(self, scope: Scope, receive: Receive, send: Send, caller: GatewayCaller) -> None:
        scope[SCOPE_KEY] = caller
        await self.sessions.handle_request(scope, receive, send)

    # --- handlers ----------------------------------------------------------------------------------

    async def _list_tools(self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None) -> Any:
        self._remember(ctx)
        catalog = build_catalog(await self._read_graphs(), self._runtime.mcp.manager, _caller(ctx).part)
        return types.ListToolsResult(tools=[types.Tool.model_validate(tool) for tool in catalog.wire()])

    async def _call_tool(self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> Any:
        self._remember(ctx)
        caller = _caller(ctx)
        manager = self._runtime.mcp.manager
        tool = build_catalog(self._graphs, manager, caller.part).tools.get(params.name)
        if not isinstance(tool, ServerTool):  # a graph may have been added, renamed or deleted since
            tool = build_catalog(await self._read_graphs(), manager, caller.part).tools.get(params.name)
        if tool is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool {params.name!r}: tools/list names the tools offered.")
        result: dict[str, Any] | None = None
        async with anyio.create_task_group() as call:

            async def stop_when_the_client_leaves() -> None:
                await caller.disconnected.wait()
                call.cancel_scope.cancel()

            call.start_soon(stop_when_the_client_leaves)
            try:
                if isinstance(tool, GraphTool):
                    result = await self._call_graph(ctx, tool, params.arguments, caller)
                else:
                    result = await self._call_server_tool(tool, params.arguments)
            except MaghubError as exc:
                result = _error_result(str(exc))
            call.cancel_scope.cancel()
        if result is None:
            raise MCPError(types.REQUEST_TIMEOUT, "The client disconnected; the call was stopped.")
        return types.CallToolResult.model_validate(result)

    async def _call_graph(
        self, ctx: ServerRequestContext[Any], tool: GraphTool, arguments: dict[str, Any] | None, caller: GatewayCaller
    ) -> dict[str, Any]:
        call = GraphCall.from_arguments(arguments)

        async def progress(step: float, message: str) -> None:
            await ctx.session.report_progress(step, None, message)

        outcome = await run_graph(self._runtime.runs, tool.graph.name, call, caller.user_id, progress)
        return {
            "content": [{"type": "text", "text": outcome.text}],
            "structuredContent": outcome.structured,
            "isError": outcome.finished.status != "completed",
        }

    async def _call_server_tool(self, tool: ServerTool, arguments: dict[str, Any] | None) -> dict[str, Any]:
        result = await self._runtime.mcp.manager.call_tool(tool.spec.server, tool.spec.name, arguments)
        return _passed_through(result)

    async def _list_resources(self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None) -> Any:
        return await self._passthrough.list_resources(_caller(ctx).part)

    async def _list_resource_templates(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> Any:
        return await self._passthrough.list_resource_templates(_caller(ctx).part)

    async def _read_resource(self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams) -> Any:
        return await _mcp_errors(self._passthrough.read_resource(_caller(ctx).part, str(params.uri)))

    async def _list_prompts(self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None) -> Any:
        return await self._passthrough.list_prompts(_caller(ctx).part)

    async def _get_prompt(self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams) -> Any:
        return await _mcp_errors(self._passthrough.get_prompt(_caller(ctx).part, params.name, params.arguments))

    # --- tools/list_changed ------------------------------------------------------------------------

    def _remember(self, ctx: ServerRequestContext[Any]) -> None:
        """Keep a handshake-era session to notify; 2026-07-28 clients listen with subscriptions/listen."""
        request = ctx.request
        session_id = request.headers.get(SESSION_HEADER) if request is not None else None
        if session_id and ctx.session.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            self._sessions.pop(session_id, None)
            self._sessions[session_id] = ctx.session  # the most recently used last
            while len(self._sessions) > MAX_REMEMBERED_SESSIONS:  # sessions left without a DELETE
                del self._sessions[next(iter(self._sessions))]

    async def _watch_changes(self) -> None:
        """Publish a tools/list_changed whenever the graphs or the connected servers' tools change."""
        last = await self._fingerprint()
        while True:
            await anyio.sleep(CHANGE_POLL_SECONDS)
            try:
                current = await self._fingerprint()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the watcher
                log.warning("gateway: could not check for tool changes", exc_info=True)
                continue
            if current != last:
                last = current
                await self.announce_tools_changed()

    async def _read_graphs(self) -> list[GraphSummary]:
        self._graphs = await self._runtime.graphs.summaries()
        return self._graphs

    async def _fingerprint(self) -> tuple[Any, ...]:
        manager = self._runtime.mcp.manager
        graphs = tuple((g.name, g.version) for g in await self._read_graphs())
        tools = tuple(
            (s.server, s.name, repr(s.raw))
            for s in manager.tools([name for name, status in manager.status().items() if status.connected])
        )
        return graphs, tools

    async def announce_tools_changed(self) -> None:
        await self._bus.publish(ToolsListChanged())
        for session_id, session in list(self._sessions.items()):
            try:
                await session.send_tool_list_changed()
            except Exception:  # noqa: BLE001 - a session that went away is forgotten
                self._sessions.pop(session_id, None)


def _caller(ctx: ServerRequestContext[Any]) -> GatewayCaller:
    request = ctx.request
    caller = request.scope.get(SCOPE_KEY) if request is not None else None
    if not isinstance(caller, GatewayCaller):
        raise MCPError(types.INTERNAL_ERROR, "The gateway was reached without maghub's HTTP layer.")
    return caller


async def _mcp_errors(awaitable: Any) -> Any:
    """maghub's errors (server not connected, unknown server) as MCP errors with their message."""
    try:
        return await awaitable
    except MaghubError as exc:
        raise MCPError(types.INVALID_PARAMS, str(exc)) from None


def _passed_through(result: ToolCallResult) -> dict[str, Any]:
    """The server's own result, unchanged; a failure maghub reports (no answer) in the same shape."""
    if result.raw:
        return {key: value for key, value in result.raw.items() if key != "resultType"}
    return _error_result(result.content[0]["text"] if result.content else result.text)


def _error_result(message: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": message}], "isError": True}
