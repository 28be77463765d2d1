"""The hub's bodies: every answer is ``{"success": true, "data": ..., "timestamp"}``."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from maghub.api.schemas import Open

Data = TypeVar("Data")


class Envelope(Open, Generic[Data]):
    success: Literal[True]
    data: Data
    timestamp: str


class HubTool(Open):
    """``inputSchema`` and ``serverId`` too when one server is asked for."""

    name: str
    description: str | None


class HubServer(Open):
    id: str
    name: str
    type: str
    status: str
    enabled: bool
    config: dict[str, Any]
    tools: list[HubTool]
    lastConnected: str | None
    reconnectAttempts: int
    lastError: str | None
    nextRetryAt: str | None
    toolCount: int


class HubServerList(Open):
    servers: list[HubServer]
    total: int
    summary: dict[str, int]


class HubServerSaved(Open):
    id: str
    config: dict[str, Any]
    message: str


class HubServerUpdated(HubServerSaved):
    reconnected: bool


class HubMessage(Open):
    id: str
    message: str


class HubConnection(HubMessage):
    status: str


class HubServerStatus(Open):
    id: str
    status: str
    lastConnected: str | None
    reconnectAttempts: int
    toolCount: int
    isConnected: bool
    isConnecting: bool
    hasError: bool
    lastError: str | None
    nextRetryAt: str | None


class HubProbe(Open):
    """A configuration tried without saving it; ``error: {kind, message}`` when it failed."""

    success: bool
    message: str
    details: dict[str, Any]
    executionTime: int


class Advice(Open):
    """``suggestedValue`` too where there is one."""

    field: str | None
    message: str
    code: str


class HubReview(Open):
    isValid: bool
    errors: list[Advice]
    warnings: list[Advice]
    suggestions: list[Advice]
