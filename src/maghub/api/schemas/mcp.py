from __future__ import annotations

from typing import Any

from pydantic import Field

from maghub.api.schemas import Open


class ServerStatusView(Open):
    """One MCP server's status: the seed's ``connected``/``tools``, the original's fields, and ours."""

    connected: bool
    init_attempted: bool
    tools: list[str]
    error: str | None
    transport_type: str
    status: str
    enabled: bool
    toolCount: int
    lastConnected: str | None
    lastError: str | None
    lastErrorKind: str | None
    reconnectAttempts: int
    nextRetryAt: str | None


class McpDocument(Open):
    """The MAG ``mcp.json``: ``{"mcpServers": {name: config}}`` (secrets masked)."""

    mcpServers: dict[str, dict[str, Any]]


class ConfigApplied(Open):
    message: str
    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: list[str]


class ServersAdded(Open):
    status: str
    message: str
    added_servers: list[str]
    duplicate_servers: list[str]
    skipped_servers: list[str]
    servers: dict[str, ServerStatusView]


class ServersRemoved(Open):
    status: str
    message: str
    removed_servers: list[str]
    not_found_servers: list[str]
    failed_removals: list[Any]
    ai_generated_count: int
    traditional_count: int
    total_requested: int


class ServerConnected(Open):
    status: str
    server: str
    message: str
    tools: list[str]
    connection: ServerStatusView


class ConnectSummary(Open):
    total_servers: int
    successful_connections: int
    failed_connections: int
    already_connected: int


class AllConnected(Open):
    """``POST /mcp/connect/all``: each enabled server's outcome."""

    status: str
    summary: ConnectSummary
    servers: dict[str, dict[str, Any]]
    tools: dict[str, list[str]]


class ServerDisconnected(Open):
    status: str
    server: str
    message: str


class ToolView(Open):
    name: str
    description: str | None
    input_schema: dict[str, Any]


class ToolCalled(Open):
    status: str
    server_name: str
    tool_name: str
    params: dict[str, Any]
    result: str | None
    content: Any
    structured_content: Any
    error: str | None
    execution_time: float = Field(description="Seconds.")
