from __future__ import annotations

from typing import Any

from maghub.api.schemas import Open
from maghub.api.schemas.common import Done


class GraphView(Open):
    """A graph's configuration as it was submitted, plus its version."""

    name: str
    version: int


class GraphReadme(Open):
    name: str
    config: GraphView
    readme: str


class Problem(Open):
    """A validation problem: ``node`` (or null for the graph), ``field`` and ``message``."""

    message: str


class GraphSaved(Done):
    name: str
    version: int
    created: bool
    warnings: list[Problem]


class GraphImported(GraphSaved):
    needs_api_key: list[Any]
    skipped_models: list[Any]
    skipped_servers: list[Any]


class PackageImported(GraphImported):
    imported_subgraphs: list[str]
    skipped_subgraphs: list[Any]
    added_models: list[Any]
    added_servers: list[Any]
    needs_secrets: Any
    imported_mcp_tools: list[Any]
    skipped_mcp_tools: list[Any]


class GraphDeleted(Done):
    still_referenced_by: list[str]


class GraphRenamed(Done):
    updated_graphs: list[str]


class GraphExported(Done):
    file_path: str
    graph: dict[str, Any]
    graphs: Any
    models: Any
    mcp_servers: Any
    needs_secrets: Any
    ai_mcp_tools: list[Any]


class McpScript(Open):
    graph_name: str
    tool_name: str
    maghub_url: str
    script: str
    sequential_script: str
    default_script: str


class RunCancelled(Open):
    status: str
    conversation_id: str
    cancelled: bool
    run_status: str | None
    message: str


class RunView(Open):
    conversation_id: str
    graph_name: str | None
    status: str | None
    turn: int
    error: Any
    final_result: Any
    execution_chain: Any
    nodes: dict[str, dict[str, Any]]
    handoffs_status: Any
    saved_files: list[Any]
    round_count: int
    created_at: str
    updated_at: str
