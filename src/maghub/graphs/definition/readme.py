"""A graph's README (reference §12.1): the one written for it if there is one, else generated.

The generated README is rendered from the current configuration each time it is asked for (never
stored), so it cannot go stale and never overwrites a written one (the original regenerated
``readme.md`` on every save, losing any README that came with an imported package).
"""

from __future__ import annotations

from collections.abc import Mapping

from maghub.graphs.definition.config import END, START, GraphConfig, NodeConfig
from maghub.graphs.definition.structure import graph_edges, reads_start, writes_end


def render_readme(
    config: GraphConfig,
    *,
    models: Mapping[str, str] | None = None,
    mcp_servers: Mapping[str, str] | None = None,
) -> str:
    """Markdown for ``config``. ``models`` and ``mcp_servers`` map names to one-line descriptions
    (e.g. the model id and endpoint); names without one are listed as not configured."""
    sections = [f"# {config.name}"]
    if config.description.strip():
        sections.append(config.description.strip())
    sections.append("## Flow\n\n```mermaid\n" + mermaid_flowchart(config) + "\n```")
    sections.append("## Nodes\n\n" + "\n\n".join(_node_section(node) for node in config.nodes))
    if config.end_template:
        sections.append("## Result\n\nThe result is built from this template:\n\n```\n" + config.end_template + "\n```")
    servers = sorted(config.mcp_server_names())
    if servers:
        sections.append("## MCP servers\n\n" + _listing(servers, mcp_servers))
    used_models = sorted(config.model_names())
    if used_models:
        sections.append("## Models\n\n" + _listing(used_models, models))
    subgraphs = sorted(config.subgraph_names())
    if subgraphs:
        sections.append("## Subgraphs\n\n" + "\n".join(f"- `{name}`" for name in subgraphs))
    return "\n\n".join(sections) + "\n"


def mermaid_flowchart(config: GraphConfig) -> str:
    """A Mermaid ``graph TD``: routers as decisions, subgraph nodes as subroutines, routing edges dashed."""
    # "end" is a Mermaid keyword, so the graph's input and result get other ids.
    ids = {START: "Input", END: "Output"}
    for index, node in enumerate(config.nodes):
        ids.setdefault(node.name, f"n{index}")
    lines = ["graph TD", '    Input(["start"])', '    Output(["end"])']
    drawn: set[str] = set()
    for node in config.nodes:
        if node.name in drawn:
            continue
        drawn.add(node.name)
        lines.append(f"    {ids[node.name]}{_shape(node)}")
    for node in config.nodes:
        if reads_start(node):
            lines.append(f"    Input --> {ids[node.name]}")
    for edge in graph_edges(config):
        arrow = "-.->" if edge.routing else "-->"
        lines.append(f"    {ids[edge.source]} {arrow} {ids[edge.target]}")
    for node in config.nodes:
        if writes_end(node):
            lines.append(f"    {ids[node.name]} --> Output")
    return "\n".join(lines)


def _label(text: str) -> str:
    # Mermaid labels are quoted; a quote inside one is written as an entity.
    return '"' + text.replace('"', "#quot;").replace("\n", " ") + '"'


def _shape(node: NodeConfig) -> str:
    label = _label(node.name)
    if node.is_subgraph:
        return f"[[{label}]]"
    if node.is_router:
        return "{" + label + "}"
    return f"[{label}]"


def _node_section(node: NodeConfig) -> str:
    lines = [f"### {node.name}"]
    if node.description.strip():
        lines.append(node.description.strip())
    facts = []
    if node.is_subgraph:
        facts.append(f"Runs the graph `{node.subgraph_name}`")
    else:
        facts.append(f"Model: `{node.model_name}`" if node.model_name else "Model: not set")
        if node.mcp_servers:
            facts.append("MCP servers: " + ", ".join(f"`{server}`" for server in node.mcp_servers))
    if reads_start(node):
        facts.append("Reads the graph's input")
    if writes_end(node):
        facts.append("Part of the graph's result")
    if node.is_router:
        facts.append(f"Router: up to {node.handoffs} handoffs")
    if node.global_output:
        facts.append("Keeps its outputs for context (global output)")
    if node.context:
        facts.append("Context: " + ", ".join(f"`{name}`" for name in node.context))
    if node.save:
        facts.append(f"Saves each output as a `.{node.save}` file")
    lines.append("\n".join(f"- {fact}" for fact in facts))
    return "\n\n".join(lines)


def _listing(names: list[str], descriptions: Mapping[str, str] | None) -> str:
    lines = []
    for name in names:
        if descriptions is None:
            lines.append(f"- `{name}`")
        elif name in descriptions:
            lines.append(f"- `{name}`: {descriptions[name]}")
        else:
            lines.append(f"- `{name}`: not configured on this server")
    return "\n".join(lines)
