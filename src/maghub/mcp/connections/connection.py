"""The connection to one MCP server, kept up by a single owner task.

The SDK requires the task that entered a transport and a session to leave them (anyio cancel scopes),
so one task per server — the *owner* — holds both for the connection's whole life, and reconnects
with backoff when it drops. While connected, a :class:`~maghub.mcp.connections.live.LiveSession` does the work;
other tasks call tools through it.

States: ``connecting`` (an attempt runs), ``connected``, ``error`` (waiting to retry), and
``disconnected`` (no owner task: never started, disabled, or stopped on purpose).

This module does not import the MCP SDK: the owner task loads it (off the event loop) before its
first attempt, so that maghub answers requests while its servers are still connecting.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from maghub.mcp.configuration.server_config import ServerConfig
from maghub.mcp.errors import ServerNotConnectedError
from maghub.mcp.connections.policy import ConnectionPolicy
from maghub.mcp.results import ToolCallResult
from maghub.mcp.connections.sdk import load_sdk
from maghub.mcp.connections.status import (
    RECENT_FAILURES_KEPT,
    ConnectionFailure,
    ConnectionState,
    PastFailure,
    ServerStatus,
)
from maghub.mcp.tools import ToolSpec

if TYPE_CHECKING:
    import mcp_types

    from maghub.mcp.connections.live import LiveSession

log = logging.getLogger(__name__)


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
        self._live: LiveSession | None = None
        self._server_info: mcp_types.Implementation | None = None
        self._protocol_version: str | None = None
        self._last_connected: datetime | None = None
        self._last_failure: ConnectionFailure | None = None
        self._last_failure_at: datetime | None = None
        self._recent_failures: deque[PastFailure] = deque(maxlen=RECENT_FAILURES_KEPT)
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
        """The cached tool list; empty unless connected."""
        return self._live.tools if self._live else ()

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
            tools=self.tools,
            last_connected=self._last_connected,
            last_error=failure.message if failure else None,
            last_error_kind=failure.kind if failure else None,
            last_error_at=self._last_failure_at,
            reconnect_attempts=self._failures,
            next_retry_at=self._next_retry_at,
            server_name=self._server_info.name if self._server_info else None,
            server_version=self._server_info.version if self._server_info else None,
            protocol_version=self._protocol_version,
            pid=self._live.pid if self._live else None,
            recent_errors=tuple(self._recent_failures),
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

    async def call_tool(self, tool: str, arguments: dict[str, Any] | None, timeout: float) -> ToolCallResult:
        """Failures the server reports come back as results with ``is_error``; failures to get an answer
        raise ServerNotConnectedError or ToolTimeoutError."""
        return await self._require_live().call_tool(tool, arguments, timeout)

    def live_session(self) -> LiveSession:
        """The live session, for requests other than tool calls (resources, prompts); raises
        ServerNotConnectedError when not connected."""
        return self._require_live()

    async def offers_tool(self, name: str) -> bool:
        """Whether the connected server has tool ``name``, asking it again when the cached list lacks it."""
        return self._live is not None and await self._live.offers_tool(name)

    def _require_live(self) -> LiveSession:
        if self._live is None:
            raise ServerNotConnectedError(self.name, self._why_not_connected())
        return self._live

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
            # The first connection loads the MCP SDK, in a worker thread (see maghub.mcp.connections.sdk).
            await load_sdk()
            while not self._stop_requested:
                failure = await self._connect_and_serve()
                if self._stop_requested or failure is None:
                    break
                await self._wait_to_retry(failure)
        except Exception:
            # A bug here must not take the manager's task group (and every other server) down with it.
            log.exception("MCP connection owner failed", extra={"server": self.name})
        finally:
            self._live = None
            self._state = ConnectionState.DISCONNECTED
            self._next_retry_at = None
            self._running = False
            self._settled.set()
            self._finished.set()

    async def _connect_and_serve(self) -> ConnectionFailure | None:
        """One connection's life; returns why it ended, or None when it was stopped."""
        # Imported here, once _own has loaded the SDK off the event loop: this module must not import it.
        from maghub.mcp.connections.live import (
            LinkAttempt,
            describe_failure,
            lost_failure,
            open_live_session,
            timeout_failure,
        )

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
                    async with open_live_session(self.config, attempt, self._policy) as live:
                        scope.deadline = math.inf  # connected: only a stop or a loss ends it now
                        self._connect_slots.release()
                        holding_slot = False
                        connected = True
                        self._on_connected(live, time.monotonic() - started)
                        failure = lost_failure(await live.serve(), attempt, self.config)
                finally:
                    if holding_slot:
                        self._connect_slots.release()
            except Exception as exc:  # noqa: BLE001 - every failure is classified and reported
                failure = describe_failure(exc, self.config, attempt, connected=connected)
            finally:
                self._attempt_scope = None
                self._live = None
        # cancel_called, not cancelled_caught: the SDK may turn the cancellation into an error of its own.
        if scope.cancel_called and not self._stop_requested and not connected:
            failure = timeout_failure(self.config, timeout, attempt)
        return None if self._stop_requested else failure

    def _begin_attempt(self) -> None:
        self._state = ConnectionState.CONNECTING
        self._next_retry_at = None
        if self._settled.is_set():
            self._settled = anyio.Event()

    def _on_connected(self, live: LiveSession, elapsed: float) -> None:
        self._live = live
        self._server_info = live.server_info
        self._protocol_version = live.protocol_version
        self._last_connected = _now()
        self._last_failure = None  # the server works now: its last error is history (recent_errors)
        self._failures = 0
        self._state = ConnectionState.CONNECTED
        self._settled.set()
        log.info(
            "MCP server connected",
            extra={
                "server": self.name,
                "tools": len(live.tools),
                "seconds": round(elapsed, 3),
                "protocol": live.protocol_version,
            },
        )

    async def _wait_to_retry(self, failure: ConnectionFailure) -> None:
        self._failures += 1
        delay = self._policy.backoff_delay(self._failures)
        self._last_failure = failure
        self._last_failure_at = _now()
        self._recent_failures.append(PastFailure(failure.kind, failure.message, self._last_failure_at))
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
