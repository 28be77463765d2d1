"""The live connection to one MCP server, kept up by a single owner task.

The SDK requires the task that entered a transport and a session to leave them (anyio cancel scopes),
so one task per server — the *owner* — holds both for the connection's whole life, and reconnects
with backoff when it drops. Other tasks use the session directly: the SDK's session correlates
concurrent requests from any task of the same event loop, and a caller that is cancelled (or times
out) abandons only its own request, which the SDK tells the server about.

States: ``connecting`` (an attempt runs), ``connected``, ``error`` (waiting to retry), and
``disconnected`` (no owner task: never started, disabled, or stopped on purpose).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.abc
import mcp_types
from mcp import Client
from mcp.client.session import IncomingMessage
from mcp.client.subscriptions import SubscriptionLost
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from maghub.mcp.config import URL_TRANSPORTS, ServerConfig
from maghub.mcp.errors import ServerNotConnectedError, ToolTimeoutError
from maghub.mcp.failures import ConnectionFailure, describe_failure, lost_failure, timeout_failure
from maghub.mcp.policy import ConnectionPolicy
from maghub.mcp.session import Session, list_all_tools, open_session
from maghub.mcp.status import ConnectionState, ServerStatus
from maghub.mcp.tools import ToolSpec
from maghub.mcp.transports import Link, LinkAttempt

log = logging.getLogger(__name__)

Lose = Callable[[str], None]


def _now() -> datetime:
    return datetime.now(UTC)


class ServerConnection:
    """One server's connection. :meth:`start` and :meth:`stop` control the owner task; the other
    methods are safe to call from any task."""

    def __init__(self, config: ServerConfig, policy: ConnectionPolicy, connect_slots: anyio.CapacityLimiter) -> None:
        self.config = config
        self._policy = policy
        self._connect_slots = connect_slots  # bounds how many servers start at once

        self._state = ConnectionState.DISCONNECTED
        self._client: Client | None = None
        self._tools: tuple[ToolSpec, ...] = ()
        self._tools_changed = anyio.Event()
        self._server_info: mcp_types.Implementation | None = None
        self._protocol_version: str | None = None
        self._pid: int | None = None
        self._last_connected: datetime | None = None
        self._last_failure: ConnectionFailure | None = None
        self._last_failure_at: datetime | None = None
        self._failures = 0
        self._next_retry_at: datetime | None = None

        self._running = False
        self._stop_requested = False
        self._attempt_scope: anyio.CancelScope | None = None
        self._retry_wait_scope: anyio.CancelScope | None = None
        self._settled = anyio.Event()  # set when no attempt is pending
        self._settled.set()
        self._finished = anyio.Event()  # set when no owner task runs
        self._finished.set()

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def tools(self) -> tuple[ToolSpec, ...]:
        return self._tools

    @property
    def running(self) -> bool:
        """Whether an owner task keeps this server connected (or is trying to)."""
        return self._running and not self._stop_requested

    def status(self) -> ServerStatus:
        failure = self._last_failure
        return ServerStatus(
            name=self.name,
            transport=self.config.transport,
            enabled=self.config.enabled,
            state=self._state,
            tools=self._tools,
            last_connected=self._last_connected,
            last_error=failure.message if failure else None,
            last_error_kind=failure.kind if failure else None,
            last_error_at=self._last_failure_at,
            reconnect_attempts=self._failures,
            next_retry_at=self._next_retry_at,
            server_name=self._server_info.name if self._server_info else None,
            server_version=self._server_info.version if self._server_info else None,
            protocol_version=self._protocol_version,
            pid=self._pid,
        )

    # --- control (from any task) --------------------------------------------------------------------

    async def start(self, task_group: anyio.abc.TaskGroup) -> None:
        """Connect in the background; when an attempt is waiting for its retry time, retry now."""
        if self._running and self._stop_requested:
            await self._finished.wait()  # a stop is under way: let it finish, then start afresh
        if self._running:
            if self._retry_wait_scope is not None:
                self._begin_attempt()
                self._retry_wait_scope.cancel()
            return
        self._running = True
        self._stop_requested = False
        self._finished = anyio.Event()
        self._failures = 0
        self._begin_attempt()
        task_group.start_soon(self._own, name=f"mcp-server:{self.name}")

    async def stop(self) -> None:
        """Disconnect, end the server's processes, and stop retrying; returns when all that is done."""
        self._stop_requested = True
        for scope in (self._attempt_scope, self._retry_wait_scope):
            if scope is not None:
                scope.cancel()
        await self._finished.wait()

    async def wait_settled(self) -> None:
        """Wait until no attempt is pending: connected, failed (waiting to retry) or stopped."""
        await self._settled.wait()

    # --- use (from any task) ------------------------------------------------------------------------

    async def call_tool(self, tool: str, arguments: dict[str, Any] | None, timeout: float) -> mcp_types.CallToolResult:
        """Raises ServerNotConnectedError, ToolTimeoutError, or MCPError for a JSON-RPC error answer."""
        client = self._require_client()
        with anyio.move_on_after(timeout):
            try:
                return await client.call_tool(tool, arguments)
            except MCPError as exc:
                if exc.code == mcp_types.CONNECTION_CLOSED:
                    raise ServerNotConnectedError(self.name, "the connection was lost during the call") from exc
                raise
        raise ToolTimeoutError(self.name, tool, timeout)

    async def refresh_tools(self) -> tuple[ToolSpec, ...]:
        client = self._require_client()
        with anyio.fail_after(self._policy.request_timeout):
            self._tools = await list_all_tools(client, self.name)
        return self._tools

    def _require_client(self) -> Client:
        if self._client is None:
            raise ServerNotConnectedError(self.name, self._why_not_connected())
        return self._client

    def _why_not_connected(self) -> str:
        if self._state == ConnectionState.CONNECTING:
            return "it is still connecting; try again in a moment"
        if self._state == ConnectionState.ERROR and self._last_failure is not None:
            retry = f" (next attempt at {self._next_retry_at:%H:%M:%S} UTC)" if self._next_retry_at else ""
            return f"{self._last_failure.message}{retry}"
        return "connect it first"

    # --- the owner task -----------------------------------------------------------------------------

    async def _own(self) -> None:
        try:
            while not self._stop_requested:
                failure = await self._connect_and_serve()
                if self._stop_requested or failure is None:
                    break
                await self._wait_to_retry(failure)
        except Exception:
            # A bug here must not take the manager's task group (and every other server) down with it.
            log.exception("MCP connection owner failed", extra={"server": self.name})
        finally:
            self._client = None
            self._tools = ()
            self._pid = None
            self._state = ConnectionState.DISCONNECTED
            self._next_retry_at = None
            self._running = False
            self._settled.set()
            self._finished.set()

    async def _connect_and_serve(self) -> ConnectionFailure | None:
        """One connection's life; returns why it ended, or None when it was stopped."""
        self._begin_attempt()
        attempt = LinkAttempt()
        connected = False
        failure: ConnectionFailure | None = None
        timeout = self._policy.connect_timeout(self.config)
        started = time.monotonic()
        with anyio.CancelScope() as scope:
            self._attempt_scope = scope
            try:
                await self._connect_slots.acquire()
                holding_slot = True
                try:
                    scope.deadline = anyio.current_time() + timeout
                    async with open_session(
                        self.config, attempt, kill_grace=self._policy.kill_grace, message_handler=self._on_message
                    ) as session:
                        scope.deadline = math.inf  # connected: only a stop or a loss ends it now
                        self._connect_slots.release()
                        holding_slot = False
                        connected = True
                        self._on_connected(session, time.monotonic() - started)
                        failure = lost_failure(await self._serve(session), attempt)
                finally:
                    if holding_slot:
                        self._connect_slots.release()
            except Exception as exc:  # noqa: BLE001 - every failure is classified and reported
                failure = describe_failure(exc, self.config, attempt, connected=connected)
            finally:
                self._attempt_scope = None
                self._client = None
        # cancel_called, not cancelled_caught: the SDK may turn the cancellation into an error of its own.
        if scope.cancel_called and not self._stop_requested and not connected:
            failure = timeout_failure(self.config, timeout, attempt)
        return None if self._stop_requested else failure

    def _begin_attempt(self) -> None:
        self._state = ConnectionState.CONNECTING
        self._next_retry_at = None
        if self._settled.is_set():
            self._settled = anyio.Event()

    def _on_connected(self, session: Session, elapsed: float) -> None:
        client = self._client = session.client
        self._tools = session.tools
        self._server_info = client.server_info
        self._protocol_version = client.protocol_version
        self._pid = session.link.process.pid if session.link.process else None
        self._last_connected = _now()
        self._failures = 0
        self._state = ConnectionState.CONNECTED
        self._settled.set()
        log.info(
            "MCP server connected",
            extra={
                "server": self.name,
                "tools": len(session.tools),
                "seconds": round(elapsed, 3),
                "protocol": client.protocol_version,
            },
        )

    async def _wait_to_retry(self, failure: ConnectionFailure) -> None:
        self._failures += 1
        delay = self._policy.backoff_delay(self._failures)
        self._client = None
        self._tools = ()
        self._pid = None
        self._last_failure = failure
        self._last_failure_at = _now()
        self._next_retry_at = self._last_failure_at + timedelta(seconds=delay)
        self._state = ConnectionState.ERROR
        self._settled.set()
        log.warning(
            "MCP server unavailable: %s",
            failure.message,
            extra={
                "server": self.name,
                "kind": failure.kind.value,
                "retry_in": round(delay, 2),
                "attempts": self._failures,
            },
        )
        with anyio.CancelScope() as wait:
            self._retry_wait_scope = wait
            if not self._stop_requested:
                await anyio.sleep(delay)
        self._retry_wait_scope = None

    # --- while connected ----------------------------------------------------------------------------

    async def _serve(self, session: Session) -> str:
        """Keep the session up until it is lost; returns why. A stop cancels this from outside."""
        lost = anyio.Event()
        reason = ""

        def lose(why: str) -> None:
            nonlocal reason
            if not lost.is_set():
                reason = why
                lost.set()

        client, link = session.client, session.link
        async with anyio.create_task_group() as watchers:
            watchers.start_soon(self._watch_stream_end, link, lose)
            if link.process is not None:
                watchers.start_soon(self._watch_process, link, lose)
            watchers.start_soon(self._keep_tools_fresh, client, lose, self.config.transport in URL_TRANSPORTS)
            capabilities = client.server_capabilities
            if (
                client.protocol_version in MODERN_PROTOCOL_VERSIONS
                and capabilities.tools
                and capabilities.tools.list_changed
            ):
                watchers.start_soon(self._listen_for_tool_changes, client)
            await lost.wait()
            watchers.cancel_scope.cancel()
        return reason

    @staticmethod
    async def _watch_stream_end(link: Link, lose: Lose) -> None:
        await link.ended.wait()
        lose("the server closed the connection" if link.process is None else "the server process closed its output")

    async def _watch_process(self, link: Link, lose: Lose) -> None:
        assert link.process is not None
        while link.process.root_alive():
            await anyio.sleep(self._policy.process_poll_interval)
        lose("the server process exited")

    async def _keep_tools_fresh(self, client: Client, lose: Lose, heartbeat: bool) -> None:
        """Refresh the tool list when the server says it changed, and, for HTTP servers, regularly:
        that request is also what notices a server that went away while the session was idle."""
        interval = self._policy.heartbeat_interval if heartbeat else math.inf
        while True:
            with anyio.move_on_after(interval):
                await self._tools_changed.wait()
            self._tools_changed = anyio.Event()
            try:
                with anyio.fail_after(self._policy.request_timeout):
                    self._tools = await list_all_tools(client, self.name)
            except TimeoutError:
                log.info("MCP server slow to list its tools", extra={"server": self.name})
            except MCPError as exc:
                if exc.code == mcp_types.CONNECTION_CLOSED:
                    lose("the server stopped answering")
                    return
                log.info("MCP server failed to list its tools: %s", exc.message, extra={"server": self.name})

    async def _listen_for_tool_changes(self, client: Client) -> None:
        """2026-07-28 servers announce tool changes only on a subscription stream."""
        while True:
            try:
                async with client.listen(tools_list_changed=True) as subscription:
                    # A change between the tool listing and this subscription would go unseen.
                    self._tools_changed.set()
                    async for _event in subscription:
                        self._tools_changed.set()
            except (SubscriptionLost, TimeoutError) as exc:
                log.debug("MCP tool change subscription broke off: %s", exc, extra={"server": self.name})
            except (MCPError, RuntimeError) as exc:  # ListenNotSupportedError is a RuntimeError
                log.info("MCP server refused a tool change subscription: %s", exc, extra={"server": self.name})
                return
            # It ended: a refresh checks that the server is still there, and catches missed changes.
            self._tools_changed.set()
            await anyio.sleep(self._policy.backoff_initial)

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, mcp_types.ToolListChangedNotification):
            self._tools_changed.set()
        elif isinstance(message, Exception):
            # E.g. a line of non-JSON on a stdio server's stdout: the session carries on.
            log.debug("MCP server sent an unreadable message: %s", message, extra={"server": self.name})
