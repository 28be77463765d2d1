"""The generation prompts (SPEC §11): maghub's own templates (package files in ``templates/``),
filled with the configured models and the tools of the MCP servers that are connected now.

Unlike the original (reference §3.1), nothing is connected first and nothing waits: servers that
are not connected are named in the prompt and returned as ``unavailable_servers``, so the caller
can say which tools are missing and why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from maghub.mcp.connections.status import ConnectionState, ServerStatus

GRAPH_DESIGN_MARKER = "<!-- maghub-generation: graph-design -->"
"""First line of the graph-design prompt: how the demo model recognises a generation request."""
TOOL_DESIGN_MARKER = "<!-- maghub-generation: mcp-tool-design -->"
"""First line of the tool generator's template (``maghub.tools.template``)."""
OPTIMIZATION_HEADING = "## The graph to improve"
"""Starts the optimisation section, present when a conversation improves an existing graph."""

# Substituted in one pass, so text inside a substituted value (a tool description, a graph's
# prompts) is never taken for a placeholder.
_PLACEHOLDER = re.compile(r"\{([A-Z_]+)\}")
REQUIREMENT_PLACEHOLDER_TEXT = "[state here what should be improved]"
REQUIREMENT_IN_MESSAGES = "see the user's messages"


@cache
def _template(name: str) -> str:
    return resources.files("maghub.generation").joinpath("templates").joinpath(name).read_text(encoding="utf-8")


# Read when the module is imported (at startup), not on the event loop while serving.
for _name in ("graph_design.md", "graph_optimize.md"):
    _template(_name)


def fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{NAME}`` in ``values`` replaced; other braces stay as written."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), template)


@dataclass(frozen=True)
class Catalog:
    """What a design may use: the configured models (name → model id) and the MCP servers' status."""

    models: Mapping[str, str]
    servers: Sequence[ServerStatus]

    @property
    def unavailable_servers(self) -> list[dict[str, str]]:
        return [
            {"name": status.name, "state": _state_text(status)}
            for status in self.servers
            if status.state != ConnectionState.CONNECTED
        ]

    def models_description(self) -> str:
        if not self.models:
            return "No model is configured yet: add one with POST /models before designing nodes.\n"
        lines = [f"- `{name}` (model `{model}`)" for name, model in sorted(self.models.items())]
        return "Use these names in `model_name`:\n\n" + "\n".join(lines) + "\n"

    def tools_description(self) -> str:
        connected = [status for status in self.servers if status.state == ConnectionState.CONNECTED]
        parts: list[str] = []
        if connected:
            tool_count = sum(len(status.tools) for status in connected)
            parts.append(f"{len(connected)} MCP server(s) are connected, with {tool_count} tool(s):\n")
            for status in sorted(connected, key=lambda s: s.name):
                parts.append(f"### Server `{status.name}`\n")
                if not status.tools:
                    parts.append("(no tools)\n")
                for tool in status.tools:
                    description = " ".join(tool.description.split()) or "(no description)"
                    parts.append(f"- `{tool.name}`: {description}")
                parts.append("")
        else:
            parts.append("No MCP server is connected, so no MCP tools are listed.\n")
        unavailable = self.unavailable_servers
        if unavailable:
            parts.append("These configured servers are not connected now; their tools are not listed:\n")
            parts += [f"- `{server['name']}`: {server['state']}" for server in unavailable]
            parts.append("")
        return "\n".join(parts)


def _state_text(status: ServerStatus) -> str:
    if not status.enabled:
        return "disabled"
    if status.state == ConnectionState.ERROR and status.last_error:
        return f"error ({status.last_error})"
    return str(status.state.value)


def graph_design_prompt(
    catalog: Catalog, graph: Mapping[str, Any] | None = None, requirement: str | None = None
) -> str:
    """The graph-design prompt; with ``graph``, for improving that graph (``requirement``: what to
    improve; None keeps the placeholder for the caller to fill)."""
    values = {"MODELS_DESCRIPTION": catalog.models_description(), "TOOLS_DESCRIPTION": catalog.tools_description()}
    section = ""
    if graph is not None:
        section = fill(
            _template("graph_optimize.md"),
            {
                "GRAPH_NAME": str(graph.get("name", "")),
                "GRAPH_CONFIG": json.dumps(graph, ensure_ascii=False, indent=2),
                **({} if requirement is None else {"OPTIMIZATION_REQUIREMENT": requirement}),
            },
        )
    # The section goes in first: its own placeholders (kept when unknown) must not be read twice.
    template = _template("graph_design.md").replace("{OPTIMIZATION_SECTION}", "\0")
    return fill(template, values).replace("\0", section)


def optimization_template(catalog: Catalog) -> str:
    """The improvement prompt without a graph: its placeholders stay for the caller to fill."""
    values = {"MODELS_DESCRIPTION": catalog.models_description(), "TOOLS_DESCRIPTION": catalog.tools_description()}
    template = _template("graph_design.md").replace("{OPTIMIZATION_SECTION}", "\0")
    return fill(template, values).replace("\0", _template("graph_optimize.md"))


def catalog_from(models: Iterable[Mapping[str, Any]], servers: Iterable[ServerStatus]) -> Catalog:
    return Catalog(
        models={str(model["name"]): str(model.get("model", "")) for model in models},
        servers=sorted(servers, key=lambda status: status.name),
    )
