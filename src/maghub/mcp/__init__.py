"""The in-process MCP connection layer: server configs (three dialects), one owner task per live
connection with reconnects, tool calls with timeouts, tool naming for LLMs, and probes.

Domain code: no HTTP, no database. The API layer and the agent loop use :class:`MCPManager`.
Importing this package does not import the MCP SDK; connections and probes load it when they
first need it (see :mod:`maghub.mcp.sdk`).
"""

from maghub.mcp.config import (
    ServerConfig,
    Transport,
    check_unique_names,
    parse_hub_server,
    parse_mcp_servers,
    parse_server_entry,
    to_hub_config,
    to_mag_document,
    to_mag_entry,
)
from maghub.mcp.errors import (
    ConfigProblem,
    InvalidServerConfigError,
    MCPHubError,
    ServerDisabledError,
    ServerNotConnectedError,
    ToolNotFoundError,
    ToolTimeoutError,
    UnknownServerError,
)
from maghub.mcp.manager import ApplyResult, MCPManager
from maghub.mcp.policy import ConnectionPolicy
from maghub.mcp.probe import ProbeResult, probe_server
from maghub.mcp.results import ToolCallResult
from maghub.mcp.status import ConnectionFailure, ConnectionState, FailureKind, ServerStatus
from maghub.mcp.tools import OpenAITools, ToolRoute, ToolSpec

__all__ = [
    "ApplyResult",
    "ConfigProblem",
    "ConnectionFailure",
    "ConnectionPolicy",
    "ConnectionState",
    "FailureKind",
    "InvalidServerConfigError",
    "MCPHubError",
    "MCPManager",
    "OpenAITools",
    "ProbeResult",
    "ServerConfig",
    "ServerDisabledError",
    "ServerNotConnectedError",
    "ServerStatus",
    "ToolCallResult",
    "ToolNotFoundError",
    "ToolRoute",
    "ToolSpec",
    "ToolTimeoutError",
    "Transport",
    "UnknownServerError",
    "check_unique_names",
    "parse_hub_server",
    "parse_mcp_servers",
    "parse_server_entry",
    "probe_server",
    "to_hub_config",
    "to_mag_document",
    "to_mag_entry",
]
