"""What a graph run reports while it runs. Plain values: the HTTP layer encodes them as the
original MAG's SSE events (SPEC §7), the CLI prints them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from maghub.agent.events import ToolCallProgress
from maghub.graphs.running.state import RunStatus


@dataclass(frozen=True, slots=True)
class RunStarted:
    conversation_id: str
    graph_name: str
    turn: int
    created: bool
    """A new conversation (the original announces it with ``conversation_created``)."""
    input_text: str


@dataclass(frozen=True, slots=True)
class NodeStarted:
    execution: int
    """Identifies this execution of the node (a loop runs a node several times)."""
    node: str
    level: int
    run_path: str


@dataclass(frozen=True, slots=True)
class NodeQueued:
    """The node's next LLM call waits for a slot of its model: ``limit`` calls to ``model`` (its
    ``max_concurrency``) are already in flight on this server. The node goes on once one ends."""

    execution: int
    node: str
    run_path: str
    model: str
    limit: int


@dataclass(frozen=True, slots=True)
class NodeChunk:
    execution: int
    node: str
    run_path: str
    chunk: dict[str, Any]
    content: str


@dataclass(frozen=True, slots=True)
class NodeToolResult:
    execution: int
    node: str
    run_path: str
    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NodeToolProgress:
    """A progress notification of a node's tool call that is still running (not stored)."""

    execution: int
    node: str
    run_path: str
    progress: ToolCallProgress


@dataclass(frozen=True, slots=True)
class NodeNotice:
    """Something the user should know that does not stop the node (an MCP server without tools)."""

    execution: int
    node: str
    run_path: str
    message: str


@dataclass(frozen=True, slots=True)
class NodeFinished:
    execution: int
    node: str
    run_path: str
    output: str
    transfer: str | None


@dataclass(frozen=True, slots=True)
class NodeFailed:
    execution: int
    node: str
    run_path: str
    message: str


@dataclass(frozen=True, slots=True)
class RunFinished:
    status: RunStatus
    """Never ``running``."""
    final_result: str
    execution_chain: list[list[str]]
    error: str | None = None


NodeEvent: TypeAlias = (
    NodeStarted
    | NodeQueued
    | NodeChunk
    | NodeToolProgress
    | NodeToolResult
    | NodeNotice
    | NodeFinished
    | NodeFailed
)
RunEvent: TypeAlias = RunStarted | NodeEvent | RunFinished
