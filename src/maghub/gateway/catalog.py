"""The gateway's tool names: one tool per graph, ``server__tool`` per tool of a connected server.

Names are rebuilt from the current graphs and servers on every list and call, so a name always leads
where the latest list said (and a graph deleted since is an unknown tool, not a wrong one).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from maghub.gateway.caller import GatewayPart
from maghub.graphs.definition.registry import GraphSummary
from maghub.graphs.sharing.mcp_export import readme_summary, tool_name_for
from maghub.mcp.connections.manager import MCPManager
from maghub.mcp.tool_names import fit_tool_name, with_hash
from maghub.mcp.tools import ToolSpec

SEPARATOR = "__"

GRAPH_INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "input": {"type": "string", "minLength": 1, "description": "What the graph should work on."},
        "conversation_id": {
            "type": "string",
            "description": "Continue this earlier run (from a result's structured content) with a new turn.",
        },
        "background": {
            "type": "boolean",
            "default": False,
            "description": "Keep the run going if this client disconnects (it stays in the run history).",
        },
    },
    "required": ["input"],
    "additionalProperties": False,
}

GRAPH_OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "conversation_id": {"type": "string"},
        "status": {"type": "string", "enum": ["completed", "failed", "cancelled", "interrupted"]},
        "execution_chain": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
        "error": {"type": ["string", "null"]},
    },
    "required": ["conversation_id", "status", "execution_chain"],
}


@dataclass(frozen=True)
class GraphTool:
    name: str
    graph: GraphSummary

    @property
    def description(self) -> str:
        parts = [f"Runs the maghub agent graph {self.graph.name!r} on `input` and returns its final result."]
        if self.graph.description.strip():
            parts.append(self.graph.description.strip())
        summary = readme_summary(self.graph.readme or "")
        if summary and summary not in self.graph.description:
            parts.append(summary)
        parts.append(
            "The structured result holds the run's conversation_id; pass it back as `conversation_id` "
            "to continue the same conversation."
        )
        return "\n\n".join(parts)

    def wire(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.graph.name,
            "description": self.description,
            "inputSchema": GRAPH_INPUT_SCHEMA,
            "outputSchema": GRAPH_OUTPUT_SCHEMA,
        }


@dataclass(frozen=True)
class ServerTool:
    name: str
    spec: ToolSpec

    def wire(self) -> dict[str, Any]:
        return {**self.spec.raw, "name": self.name}


@dataclass(frozen=True)
class Catalog:
    tools: dict[str, GraphTool | ServerTool]

    def wire(self) -> list[dict[str, Any]]:
        return [tool.wire() for tool in self.tools.values()]


def graph_tool_names(graphs: list[GraphSummary]) -> dict[str, GraphSummary]:
    """A valid tool name per graph; graphs whose names reduce to the same tool name get a hash each."""
    wanted = {graph.name: tool_name_for(graph.name) for graph in graphs}
    taken = Counter(wanted.values())
    return {
        (with_hash(name, graph.name) if taken[name] > 1 else name): graph
        for graph in graphs
        for name in [wanted[graph.name]]
    }


def namespaced(server: str, name: str) -> str:
    """``server__name``, made valid for every MCP client when it is not already."""
    return fit_tool_name(f"{server}{SEPARATOR}{name}")


def connected_servers(manager: MCPManager, part: GatewayPart) -> list[str]:
    connected = [name for name, status in manager.status().items() if status.connected]
    return part.servers(connected)


def build_catalog(graphs: list[GraphSummary], manager: MCPManager, part: GatewayPart) -> Catalog:
    tools: dict[str, GraphTool | ServerTool] = {}
    if part.graphs:
        for name, graph in graph_tool_names(graphs).items():
            tools[name] = GraphTool(name, graph)
    for spec in manager.tools(connected_servers(manager, part)):
        name = namespaced(spec.server, spec.name)
        tools.setdefault(name, ServerTool(name, spec))  # a graph of that very name keeps it
    return Catalog(tools)


def split_namespaced(manager: MCPManager, part: GatewayPart, name: str) -> tuple[str, str] | None:
    """The (server, original name) behind a namespaced resource or prompt name of a connected server."""
    for server in sorted(connected_servers(manager, part), key=len, reverse=True):
        prefix = f"{server}{SEPARATOR}"
        if name.startswith(prefix) and len(name) > len(prefix):
            return server, name[len(prefix) :]
    return None
