"""Who calls the gateway, and which part of it they reach."""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio

ALL = "all"
GRAPHS = "graphs"
SERVER = "server"


@dataclass(frozen=True)
class GatewayPart:
    """``/gateway/mcp`` (everything), ``/gateway/graphs/mcp`` or ``/gateway/servers/{name}/mcp``."""

    kind: str = ALL
    server: str | None = None

    @property
    def graphs(self) -> bool:
        return self.kind in (ALL, GRAPHS)

    def servers(self, connected: list[str]) -> list[str]:
        if self.kind == ALL:
            return connected
        if self.kind == SERVER and self.server in connected:
            return [self.server]
        return []


@dataclass(frozen=True)
class GatewayCaller:
    user_id: str
    """Who the runs belong to: the signed-in user, or the default user in local mode."""
    part: GatewayPart
    disconnected: anyio.Event = field(default_factory=anyio.Event, compare=False)
    """Set when the HTTP request that carries the call is dropped by the client."""


SCOPE_KEY = "maghub.gateway.caller"
"""Where the HTTP layer leaves the caller in the ASGI scope, for the MCP handlers to read."""
