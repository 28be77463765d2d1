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
class PastFailure:
    """A failed attempt, kept in a server's short history after it connects again."""

    kind: FailureKind
    message: str
    at: datetime


RECENT_FAILURES_KEPT = 5


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
    """Why the server is not connected now; None once it connects (``recent_errors`` keeps the history)."""
    last_error_kind: FailureKind | None
    last_error_at: datetime | None
    """When the most recent failure happened, kept after a reconnect."""
    reconnect_attempts: int
    """Failed attempts since the last successful connect."""
    next_retry_at: datetime | None
    """When the next automatic attempt starts (state ``error`` only)."""
    server_name: str | None = None
    server_version: str | None = None
    protocol_version: str | None = None
    pid: int | None = None
    """The stdio server's process id, where the process table is readable."""
    recent_errors: tuple[PastFailure, ...] = ()
    """The last few failures, oldest first, kept after a reconnect so they can still be looked at."""

    @property
    def tool_count(self) -> int:
        return len(self.tools)

    @property
    def connected(self) -> bool:
        return self.state == ConnectionState.CONNECTED
