"""Snapshots of a server's connection state, as the API layer reports them, and the kinds of failure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from maghub.mcp.configuration.server_config import Transport
from maghub.mcp.tools import ToolSpec


class FailureKind(StrEnum):
    COMMAND_NOT_FOUND = "command_not_found"
    SPAWN_FAILED = "spawn_failed"
    PROCESS_EXITED = "process_exited"
    TIMEOUT = "timeout"
    HANDSHAKE_ERROR = "handshake_error"
    HTTP_STATUS = "http_status"
    CONNECTION_FAILED = "connection_failed"
    CONNECTION_LOST = "connection_lost"


@dataclass(frozen=True)
class ConnectionFailure:
    """Why a connection failed, classified (see :func:`maghub.mcp.connections.failures.describe_failure`)."""

    kind: FailureKind
    message: str
    http_status: int | None = None

    def __str__(self) -> str:
        return self.message


class ConnectionState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    ERROR = "error"


@dataclass(frozen=True)
class ServerStatus:
    name: str
    transport: Transport
    enabled: bool
    state: ConnectionState
    tools: tuple[ToolSpec, ...]
    """The cached tool list; empty unless connected."""
    last_connected: datetime | None
    last_error: str | None
    """The most recent failure, kept after a reconnect so it can still be looked at."""
    last_error_kind: FailureKind | None
    last_error_at: datetime | None
    reconnect_attempts: int
    """Failed attempts since the last successful connect."""
    next_retry_at: datetime | None
    """When the next automatic attempt starts (state ``error`` only)."""
    server_name: str | None = None
    server_version: str | None = None
    protocol_version: str | None = None
    pid: int | None = None
    """The stdio server's process id, where the process table is readable."""

    @property
    def tool_count(self) -> int:
        return len(self.tools)

    @property
    def connected(self) -> bool:
        return self.state == ConnectionState.CONNECTED
