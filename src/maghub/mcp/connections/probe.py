"""Try a server configuration once, without keeping or registering the connection (the "test" endpoints
and ``maghub mcp test``): connect, list the tools, disconnect, and say what happened."""

from __future__ import annotations

import time
from dataclasses import dataclass

import anyio

from maghub.mcp.configuration.server_config import ServerConfig
from maghub.mcp.connections.policy import ConnectionPolicy
from maghub.mcp.connections.sdk import load_sdk
from maghub.mcp.connections.status import ConnectionFailure, ConnectionState
from maghub.mcp.tools import ToolSpec


@dataclass(frozen=True)
class ProbeResult:
    state: ConnectionState
    """``connected`` if the handshake and the tool listing worked, else ``error``."""
    tools: tuple[ToolSpec, ...]
    elapsed_ms: float
    """Time to a connected session with its tool list (closing it again is not counted)."""
    failure: ConnectionFailure | None
    server_name: str | None = None
    server_version: str | None = None
    protocol_version: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def tool_count(self) -> int:
        return len(self.tools)

    @property
    def message(self) -> str:
        if self.failure is not None:
            return self.failure.message
        return f"connected in {self.elapsed_ms:.0f} ms; {self.tool_count} tools"


async def probe_server(config: ServerConfig, policy: ConnectionPolicy | None = None) -> ProbeResult:
    """Connect to ``config`` once (whether it is enabled or not). Never raises for a failing server."""
    await load_sdk()  # on first use, off the event loop (see maghub.mcp.connections.sdk)
    # Imported once the SDK is loaded: this module must not import it.
    from maghub.mcp.connections.live import LinkAttempt, describe_failure, open_live_session, timeout_failure

    policy = policy or ConnectionPolicy()
    attempt = LinkAttempt()
    timeout = policy.connect_timeout(config)
    started = time.monotonic()
    result: ProbeResult | None = None
    failure: ConnectionFailure | None = None
    with anyio.CancelScope(deadline=anyio.current_time() + timeout) as scope:
        try:
            async with open_live_session(config, attempt, policy) as live:
                info = live.server_info
                result = ProbeResult(
                    state=ConnectionState.CONNECTED,
                    tools=live.tools,
                    elapsed_ms=(time.monotonic() - started) * 1000,
                    failure=None,
                    server_name=info.name if info else None,
                    server_version=info.version if info else None,
                    protocol_version=live.protocol_version,
                )
        except Exception as exc:  # noqa: BLE001 - every failure is classified and reported
            failure = describe_failure(exc, config, attempt, connected=False)
    if result is not None:
        return result
    if failure is None or scope.cancel_called:
        failure = timeout_failure(config, timeout, attempt)
    return ProbeResult(
        state=ConnectionState.ERROR, tools=(), elapsed_ms=(time.monotonic() - started) * 1000, failure=failure
    )
