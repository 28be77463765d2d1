"""Tools of MCP servers as maghub keeps them, and as they are offered to an OpenAI-compatible LLM.

Naming rule (SPEC §4): a tool keeps its own name when no other selected server has a tool of that
name; on a collision every colliding tool becomes ``server__tool``. Every name is then made to fit
``^[a-zA-Z0-9_-]{1,64}$``: other characters become ``_``, and a name that is too long (or that
still collides after that) is cut and given a short hash of its server and tool, so the result only
depends on the selected tools, never on luck.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from maghub.mcp.tool_names import INVALID_NAME_CHARS, MAX_TOOL_NAME_LENGTH, with_hash

if TYPE_CHECKING:  # only for annotations: the SDK loads later than this module (see maghub.mcp.connections.sdk)
    import mcp_types


@dataclass(frozen=True)
class ToolSpec:
    """One tool of one server, as listed by the server."""

    server: str
    name: str
    description: str
    input_schema: dict[str, Any]
    raw: dict[str, Any]
    """The tool as the server described it, in wire format (camelCase keys)."""

    @classmethod
    def from_mcp(cls, server: str, tool: mcp_types.Tool) -> ToolSpec:
        return cls(
            server=server,
            name=tool.name,
            description=tool.description or "",
            input_schema=dict(tool.input_schema or {}),
            raw=tool.model_dump(by_alias=True, mode="json", exclude_none=True),
        )


class ToolRoute(NamedTuple):
    """Where an LLM-facing tool name leads."""

    server: str
    tool: str


class OpenAITools(NamedTuple):
    """Tool schemas for a chat completion request, and the route of each offered name."""

    schemas: list[dict[str, Any]]
    routes: dict[str, ToolRoute]


def build_openai_tools(specs: Sequence[ToolSpec]) -> OpenAITools:
    names = assign_tool_names([ToolRoute(spec.server, spec.name) for spec in specs])
    schemas = []
    routes = {}
    for spec in specs:
        name = names[ToolRoute(spec.server, spec.name)]
        routes[name] = ToolRoute(spec.server, spec.name)
        schemas.append(
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": spec.description or f"Tool {spec.name!r} of MCP server {spec.server!r}.",
                    "parameters": _parameters(spec.input_schema),
                },
            }
        )
    return OpenAITools(schemas, routes)


def assign_tool_names(routes: Sequence[ToolRoute]) -> dict[ToolRoute, str]:
    """The LLM-facing name of each (server, tool); unique, valid, deterministic."""
    counts = Counter(route.tool for route in routes)
    names = {
        route: _fit(route.tool if counts[route.tool] == 1 else f"{route.server}__{route.tool}", route)
        for route in routes
    }
    # Replacing characters or cutting can make two names equal: tell those apart by their hash.
    taken = Counter(names.values())
    return {route: _with_hash(name, route) if taken[name] > 1 else name for route, name in names.items()}


def _fit(wanted: str, route: ToolRoute) -> str:
    name = INVALID_NAME_CHARS.sub("_", wanted) or "tool"
    return name if len(name) <= MAX_TOOL_NAME_LENGTH else _with_hash(name, route)


def _with_hash(name: str, route: ToolRoute) -> str:
    return with_hash(name, f"{route.server}\0{route.tool}")


def _parameters(schema: dict[str, Any]) -> dict[str, Any]:
    # OpenAI-compatible APIs insist on an object schema at the top; MCP servers sometimes send {}.
    parameters = dict(schema)
    parameters["type"] = "object"
    parameters.setdefault("properties", {})
    return parameters
