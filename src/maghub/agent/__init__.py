"""The agent loop shared by chat and graph nodes: stream an LLM, run tool calls concurrently,
answer every call, repeat up to a call limit, and report each step as a typed event.

Domain code: no HTTP, no database, no SSE encoding.
"""

from maghub.agent.events import (
    AgentEvent,
    AgentFailed,
    AgentFinished,
    AssistantTurn,
    LLMChunk,
    LLMQueued,
    StopReason,
    ToolCallProgress,
    ToolResult,
    ToolResultKind,
    Transfer,
)
from maghub.agent.loop import DEFAULT_MAX_LLM_CALLS, run_agent
from maghub.agent.toolsets import MCPToolSet, ToolOutcome, ToolSet, offer_tools
from maghub.agent.transfers import TRANSFER_PREFIX, TransferTarget, transfer_tool_name

__all__ = [
    "DEFAULT_MAX_LLM_CALLS",
    "TRANSFER_PREFIX",
    "AgentEvent",
    "AgentFailed",
    "AgentFinished",
    "AssistantTurn",
    "LLMChunk",
    "LLMQueued",
    "MCPToolSet",
    "StopReason",
    "ToolCallProgress",
    "ToolOutcome",
    "ToolResult",
    "ToolResultKind",
    "ToolSet",
    "Transfer",
    "TransferTarget",
    "offer_tools",
    "run_agent",
    "transfer_tool_name",
]
