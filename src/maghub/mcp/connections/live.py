"""A live session with one MCP server: what a connection does while it is connected.

The connection's owner task opens the session (:func:`open_live_session`), serves it until it is
lost (:meth:`LiveSession.serve`) and closes it. Other tasks make calls on it: the SDK's session
correlates concurrent requests from any task of the same event loop, and a caller that is cancelled
(or times out) abandons only its own request, which the SDK tells the server about.

Imports the MCP SDK: load it with :func:`maghub.mcp.connections.sdk.load_sdk` before importing this module.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from typing import Any

import anyio
import mcp_types
from mcp import Client
from mcp.client.session import IncomingMessage
from mcp.client.subscriptions import SubscriptionLost
from mcp.shared.dispatcher import ProgressFnT
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from maghub.mcp.configuration.server_config import URL_TRANSPORTS, ServerConfig
from maghub.mcp.connections.failures import describe_failure, lost_failure, timeout_failure
from maghub.mcp.connections.policy import ConnectionPolicy
from maghub.mcp.connections.session import Session, list_all_tools, open_session
from maghub.mcp.connections.transports import Link, LinkAttempt
from maghub.mcp.errors import MCPHubError, ServerNotConnectedError, ToolTimeoutError
from maghub.mcp.progress import ToolProgress, current_listener
from maghub.mcp.results import ToolCallResult
from maghub.mcp.sampling import roots_callback, sampling_callback
from maghub.usage import Usage
from maghub.mcp.tools import ToolSpec

# Also what connection.py and probe.py import from here once the SDK is loaded.
__all__ = [
    "LinkAttempt",
    "LiveSession",
    "describe_failure",
    "lost_failure",
    "open_live_session",
    "timeout_failure",
]

log = logging.getLogger(__name__)

Lose = Callable[[str], None]


class _ToolListChanges:
    """Set whenever the server says its tools changed: by notification or on a subscription stream."""

    def __init__(self, server: str) -> None:
        self._server = server
        self._changed = anyio.Event()

    def set(self) -> None:
        self._changed.set()

    async def wait(self, timeout: float) -> None:
        """Wait for a change, at most ``timeout`` seconds; either way, start listening afresh."""
        with anyio.move_on_after(timeout):
            await self._changed.wait()
        self._changed = anyio.Event()

    async def on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, mcp_types.ToolListChangedNotification):
            self.set()
        elif isinstance(message, Exception):
            # E.g. a line of non-JSON on a stdio server's stdout: the session carries on.
            log.debug("MCP server sent an unreadable message: %s", message, extra={"server": self._server})


class _Sampled:
    def __init__(self) -> None:
        self.total: Usage | None = None

    def add(self, usage: Usage) -> None:
        self.total = usage if self.total is None else self.total + usage


class _SamplingUsage:
    """Which tool call the tokens of a sampling request count for. The SDK does not say which call a
    server's request belongs to: they count for the latest call still running on the session."""

    def __init__(self, server: str) -> None:
        self._server = server
        self._running: list[_Sampled] = []

    @contextmanager
    def tracking(self) -> Iterator[_Sampled]:
        sampled = _Sampled()
        self._running.append(sampled)
        try:
            yield sampled
        finally:
            self._running.remove(sampled)

    def count(self, usage: Usage) -> None:
        if self._running:
            self._running[-1].add(usage)
        else:
            log.info(
                "MCP sampling outside any tool call: its tokens count for no conversation",
                extra={"server": self._server},
            )


@asynccontextmanager
async def open_live_session(
    config: ServerConfig, attempt: LinkAttempt, policy: ConnectionPolicy
) -> AsyncIterator[LiveSession]:
    """Connect (transport, handshake, tool list); leaving the block closes everything. The caller bounds
    the time it may take (see :mod:`maghub.mcp.connections.session`)."""
    changes = _ToolListChanges(config.name)
    sampling = _SamplingUsage(config.name)
    async with open_session(
        config,
        attempt,
        kill_grace=policy.kill_grace,
        owner=policy.process_owner,
        message_handler=changes.on_message,
        sampling_callback=sampling_callback(config, policy.sampler, sampling.count),
        list_roots_callback=roots_callback(config) if config.roots else None,
    ) as session:
        yield LiveSession(config, session, policy, changes, sampling)


class LiveSession:
    def __init__(
        self,
        config: ServerConfig,
        session: Session,
        policy: ConnectionPolicy,
        changes: _ToolListChanges,
        sampling: _SamplingUsage,
    ) -> None:
        self._sampling = sampling
        self.name = config.name
        self.client: Client = session.client
        self.link: Link = session.link
        self.tools: tuple[ToolSpec, ...] = session.tools
        self._policy = policy
        self._changes = changes
        # HTTP sessions are checked regularly: the SDK notices a server that went away only on a request.
        self._heartbeat = config.transport in URL_TRANSPORTS

    @property
    def pid(self) -> int | None:
        return self.link.process.pid if self.link.process else None

    @property
    def server_info(self) -> mcp_types.Implementation | None:
        return self.client.server_info

    @property
    def protocol_version(self) -> str | None:
        return self.client.protocol_version

    # --- use (from any task) ------------------------------------------------------------------------

    async def call_tool(self, tool: str, arguments: dict[str, Any] | None, timeout: float) -> ToolCallResult:
        """Failures the server reports come back as results with ``is_error``; failures to get an answer
        raise ServerNotConnectedError or ToolTimeoutError."""
        started = time.monotonic()
        try:
            with anyio.move_on_after(timeout), self._sampling.tracking() as sampled:
                result = await self.client.call_tool(tool, arguments, progress_callback=self._progress_relay(tool))
                answer = ToolCallResult.from_mcp(
                    self.name, tool, result, _ms_since(started), max_chars=self._policy.tool_result_max_chars
                )
                return replace(answer, sampling_usage=sampled.total) if sampled.total else answer
        except MCPError as exc:  # the server answered with a JSON-RPC error, or the connection closed
            if exc.code == mcp_types.CONNECTION_CLOSED:
                raise ServerNotConnectedError(self.name, "the connection was lost during the call") from exc
            return ToolCallResult.failure(self.name, tool, exc.message, _ms_since(started))
        except ValidationError as exc:
            message = f"the server's answer is not a valid MCP tool result ({exc.error_count()} problems)"
            return ToolCallResult.failure(self.name, tool, message, _ms_since(started))
        except RuntimeError as exc:
            # The SDK's verdicts on an answer: structured content that breaks the tool's declared output
            # schema, or a request for user input (elicitation), which maghub does not offer.
            log.warning("MCP tool call failed: %s", exc, extra={"server": self.name, "tool": tool})
            return ToolCallResult.failure(self.name, tool, str(exc), _ms_since(started))
        raise ToolTimeoutError(self.name, tool, timeout)

    def _progress_relay(self, tool: str) -> ProgressFnT | None:
        """Passes the server's progress notifications for one call to the caller's listener, if any
        (without a callback the SDK asks the server for no progress at all)."""
        listener = current_listener()
        if listener is None:
            return None

        async def relay(progress: float, total: float | None, message: str | None) -> None:
            try:
                listener(ToolProgress(self.name, tool, progress, total, message))
            except Exception:  # a listener's bug must not break the call
                log.exception("tool progress listener failed", extra={"server": self.name, "tool": tool})

        return relay

    async def offers_tool(self, name: str) -> bool:
        if any(spec.name == name for spec in self.tools):
            return True
        # The list may be stale if the server changed it without saying so: ask once more.
        try:
            await self.refresh_tools()
        except (TimeoutError, MCPError, MCPHubError):
            return False
        return any(spec.name == name for spec in self.tools)

    async def refresh_tools(self) -> tuple[ToolSpec, ...]:
        with anyio.fail_after(self._policy.request_timeout):
            self.tools = await list_all_tools(self.client, self.name)
        return self.tools

    # --- the owner task -----------------------------------------------------------------------------

    async def serve(self) -> str:
        """Keep the session up until it is lost; returns why. A stop cancels this from outside."""
        lost = anyio.Event()
        reason = ""

        def lose(why: str) -> None:
            nonlocal reason
            if not lost.is_set():
                reason = why
                lost.set()

        async with anyio.create_task_group() as watchers:
            watchers.start_soon(self._watch_stream_end, lose)
            if self.link.process is not None:
                watchers.start_soon(self._watch_process, lose)
            watchers.start_soon(self._keep_tools_fresh, lose)
            capabilities = self.client.server_capabilities
            if (
                self.client.protocol_version in MODERN_PROTOCOL_VERSIONS
                and capabilities.tools
                and capabilities.tools.list_changed
            ):
                watchers.start_soon(self._listen_for_tool_changes)
            await lost.wait()
            watchers.cancel_scope.cancel()
        return reason

    async def _watch_stream_end(self, lose: Lose) -> None:
        await self.link.ended.wait()
        lose(
            "the server closed the connection" if self.link.process is None else "the server process closed its output"
        )

    async def _watch_process(self, lose: Lose) -> None:
        assert self.link.process is not None
        while self.link.process.root_alive():
            await anyio.sleep(self._policy.process_poll_interval)
        lose("the server process exited")

    async def _keep_tools_fresh(self, lose: Lose) -> None:
        """Refresh the tool list when the server says it changed, and, for HTTP servers, regularly:
        that request is also what notices a server that went away while the session was idle."""
        interval = self._policy.heartbeat_interval if self._heartbeat else math.inf
        while True:
            await self._changes.wait(interval)
            try:
                await self.refresh_tools()
            except TimeoutError:
                log.info("MCP server slow to list its tools", extra={"server": self.name})
            except MCPError as exc:
                if exc.code == mcp_types.CONNECTION_CLOSED:
                    lose("the server stopped answering")
                    return
                log.info("MCP server failed to list its tools: %s", exc.message, extra={"server": self.name})

    async def _listen_for_tool_changes(self) -> None:
        """2026-07-28 servers announce tool changes only on a subscription stream."""
        while True:
            try:
                async with self.client.listen(tools_list_changed=True) as subscription:
                    # A change between the tool listing and this subscription would go unseen.
                    self._changes.set()
                    async for _event in subscription:
                        self._changes.set()
            except (SubscriptionLost, TimeoutError) as exc:
                log.debug("MCP tool change subscription broke off: %s", exc, extra={"server": self.name})
            except (MCPError, RuntimeError) as exc:  # ListenNotSupportedError is a RuntimeError
                log.info("MCP server refused a tool change subscription: %s", exc, extra={"server": self.name})
                return
            # It ended: a refresh checks that the server is still there, and catches missed changes.
            self._changes.set()
            await anyio.sleep(self._policy.backoff_initial)


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000
