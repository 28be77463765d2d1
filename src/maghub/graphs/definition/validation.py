"""Checks of a graph configuration (SPEC §5): every problem at once, each saying how to fix it.

Errors make a graph unsavable; warnings (unknown models and MCP servers, prompt files that are missing,
nodes nothing reaches…) are returned with a successful save, because they can be fixed later and only
matter when a run starts. Nothing here depends on live MCP connections.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from maghub.errors import InvalidInputError
from maghub.graphs.definition.config import (
    CONTEXT_MODE_ALL,
    CONTEXT_MODE_LATEST,
    CONTEXT_MODE_LATEST_N,
    END,
    MAX_PARALLEL_NODES_LIMIT,
    RESERVED_NODE_NAMES,
    START,
    GraphConfig,
    GraphDocument,
    NodeConfig,
    name_problem,
    prompt_file_name_problem,
    prompt_file_placeholders,
    save_extension_problem,
)
from maghub.graphs.definition.structure import (
    find_cycles,
    graph_edges,
    nodes_by_name,
    reachable,
    reads_start,
    reference_path,
    successors,
    writes_end,
)


@dataclass(frozen=True, slots=True)
class GraphProblem:
    """One problem: ``node`` is None for the graph itself; ``field`` names the field to fix."""

    node: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"node '{self.node}', {self.field}" if self.node is not None else self.field
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class ValidationReport:
    errors: tuple[GraphProblem, ...] = ()
    warnings: tuple[GraphProblem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


class GraphValidationError(InvalidInputError):
    """A graph that cannot be saved or run; ``problems`` lists every reason (the API returns them)."""

    def __init__(self, graph_name: str, problems: Sequence[GraphProblem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        listed = "; ".join(str(problem) for problem in self.problems)
        super().__init__(f"Graph '{graph_name}' is invalid ({count} problem{'s' * (count != 1)}): {listed}")


@dataclass(frozen=True)
class Catalog:
    """What a graph is checked against. ``None`` means "not known here" (offline validation): that
    check becomes a warning saying it was not done, or is skipped.

    ``graphs`` maps each stored graph's name to the graphs its subgraph nodes refer to; the graph being
    checked is left out of it (its new configuration replaces the stored one).
    """

    graphs: Mapping[str, Collection[str]] | None = None
    all_graphs_known: bool = True
    """False when ``graphs`` holds only some graphs (files given to the CLI): a subgraph outside it is a
    warning instead of an error."""
    models: Collection[str] | None = None
    mcp_servers: Collection[str] | None = None
    prompt_files: Collection[str] | None = None


@dataclass
class _Collector:
    errors: list[GraphProblem] = field(default_factory=list)
    warnings: list[GraphProblem] = field(default_factory=list)

    def error(self, node: str | None, field_name: str, message: str) -> None:
        self.errors.append(GraphProblem(node, field_name, message))

    def warn(self, node: str | None, field_name: str, message: str) -> None:
        self.warnings.append(GraphProblem(node, field_name, message))


def validate_graph(config: GraphConfig, catalog: Catalog | None = None) -> ValidationReport:
    catalog = catalog or Catalog()
    report = _Collector()
    if problem := name_problem(config.name):
        report.error(None, "name", f"the graph name {problem}")
    if not config.nodes:
        report.error(None, "nodes", "a graph needs at least one node; add one that reads 'start' and writes 'end'")
    _check_node_names(config, report)
    names = set(nodes_by_name(config))
    for node in config.nodes:
        _check_references(node, names, report)
        _check_settings(node, report)
        if node.is_subgraph:
            _check_subgraph_node(config.name, node, catalog, report)
        else:
            _check_agent_node(node, catalog, report)
    _check_flow(config, report)
    _check_parallel_limit(config, report)
    return ValidationReport(tuple(report.errors), tuple(report.warnings))


def validate_document(document: GraphDocument, catalog: Catalog | None = None) -> ValidationReport:
    """:func:`validate_graph`, plus the names of the prompt files the document carries."""
    report = validate_graph(document, catalog)
    file_problems = [
        GraphProblem(None, "prompt_files", f"'{file_name}' {problem}")
        for file_name in document.prompt_files or {}
        if (problem := prompt_file_name_problem(file_name))
    ]
    return ValidationReport((*report.errors, *file_problems), report.warnings)


def require_valid(config: GraphConfig, catalog: Catalog | None = None) -> ValidationReport:
    """The report, or :class:`GraphValidationError` listing the errors."""
    report = validate_graph(config, catalog)
    if report.errors:
        raise GraphValidationError(config.name, report.errors)
    return report


def _label(node: NodeConfig, index: int) -> str:
    return node.name if isinstance(node.name, str) and node.name.strip() else f"#{index + 1}"


def _check_node_names(config: GraphConfig, report: _Collector) -> None:
    seen: set[str] = set()
    for index, node in enumerate(config.nodes):
        label = _label(node, index)
        if problem := name_problem(node.name):
            report.error(label, "name", f"the node name {problem}")
        elif node.name in RESERVED_NODE_NAMES:
            report.error(label, "name", f"'{node.name}' is reserved for the graph's input and result; rename the node")
        if node.name in seen:
            report.error(label, "name", f"another node is also named '{node.name}'; node names must be unique")
        seen.add(node.name)


def _unknown_name(name: str, field_name: str, names: Collection[str]) -> str:
    known = ", ".join(sorted(names)[:20]) or "none yet"
    return f"'{name}' is not a node of this graph (its nodes: {known}); fix the name in {field_name} or add the node"


def _check_references(node: NodeConfig, names: Collection[str], report: _Collector) -> None:
    for name in node.input_nodes:
        if name == END:
            report.error(node.name, "input_nodes", "'end' can only be an output; use 'start' for the graph's input")
        elif name != START and name not in names:
            report.error(node.name, "input_nodes", _unknown_name(name, "input_nodes", names))
    for name in node.output_nodes:
        if name == START:
            report.error(node.name, "output_nodes", "'start' can only be an input; use 'end' for the graph's result")
        elif name != END and name not in names:
            report.error(node.name, "output_nodes", _unknown_name(name, "output_nodes", names))
    for name in node.context:
        if name == END:
            report.error(node.name, "context", "'end' is not a node; context names nodes (or 'start') to read from")
        elif name != START and name not in names:
            report.error(node.name, "context", _unknown_name(name, "context", names))


def _check_settings(node: NodeConfig, report: _Collector) -> None:
    if node.handoffs is not None and node.handoffs < 0:
        report.error(node.name, "handoffs", "must be 0 or more (the number of routing decisions), or null")
    mode = node.context_mode
    if mode not in (CONTEXT_MODE_ALL, CONTEXT_MODE_LATEST, CONTEXT_MODE_LATEST_N) and not (
        mode.isdigit() and int(mode) > 0
    ):
        report.error(
            node.name,
            "context_mode",
            f"'{mode}' is not a context mode; use 'all', 'latest', 'latest_n' (with context_n) or a number like '3'",
        )
    if mode == CONTEXT_MODE_LATEST_N and (node.context_n is None or node.context_n < 1):
        report.error(node.name, "context_n", "must be a number of 1 or more when context_mode is 'latest_n'")
    if node.save is not None and (problem := save_extension_problem(node.save)):
        report.error(node.name, "save", f"'{node.save}' {problem}")


def _check_parallel_limit(config: GraphConfig, report: _Collector) -> None:
    limit = config.max_parallel_nodes
    if limit is not None and not 1 <= limit <= MAX_PARALLEL_NODES_LIMIT:
        report.error(
            None,
            "max_parallel_nodes",
            f"must be a whole number from 1 to {MAX_PARALLEL_NODES_LIMIT} (how many nodes may run at once), "
            f"or null for the server's default; got {limit}",
        )


def _check_agent_node(node: NodeConfig, catalog: Catalog, report: _Collector) -> None:
    if node.model_name is None:
        hint = "one of the configured models (GET /models)"
        report.error(node.name, "model_name", f"a node needs a model: set model_name to {hint}")
    elif catalog.models is not None and node.model_name not in catalog.models:
        report.warn(
            node.name,
            "model_name",
            f"model '{node.model_name}' is not configured; add it (POST /models) before running the graph",
        )
    if catalog.mcp_servers is not None:
        for server in node.mcp_servers:
            if server not in catalog.mcp_servers:
                report.warn(
                    node.name,
                    "mcp_servers",
                    f"MCP server '{server}' is not configured; add it (POST /mcp/add) before running the graph",
                )
    if catalog.prompt_files is not None:
        for field_name in ("system_prompt", "user_prompt"):
            for file_name in prompt_file_placeholders(getattr(node, field_name)):
                if file_name not in catalog.prompt_files:
                    report.warn(
                        node.name,
                        field_name,
                        f"{{{file_name}}} names no prompt file of this graph, so it stays as written; "
                        f"add '{file_name}' to the graph's prompt_files",
                    )


def _check_subgraph_node(graph_name: str, node: NodeConfig, catalog: Catalog, report: _Collector) -> None:
    if node.handoffs is not None:
        report.error(
            node.name,
            "handoffs",
            "a subgraph node makes no decisions of its own; set handoffs to null "
            "(routing belongs on a node inside the subgraph, or on a node before it)",
        )
    target = node.subgraph_name
    if target is None:
        report.error(node.name, "subgraph_name", "a subgraph node must name the graph it runs")
        return
    if target == graph_name:
        report.error(node.name, "subgraph_name", "a graph cannot contain itself; name another graph")
        return
    if catalog.graphs is None:
        report.warn(node.name, "subgraph_name", f"graph '{target}' could not be checked here (not available)")
        return
    if target not in catalog.graphs:
        if catalog.all_graphs_known:
            report.error(
                node.name, "subgraph_name", f"there is no graph named '{target}'; save it first or fix the name"
            )
        else:
            report.warn(
                node.name, "subgraph_name", f"graph '{target}' is not among the graphs given, so it was not checked"
            )
        return
    path = reference_path(target, graph_name, catalog.graphs)
    if path is not None:
        chain = " → ".join([graph_name, *path])
        report.error(
            node.name,
            "subgraph_name",
            f"graph '{target}' refers back to this one ({chain}); subgraphs must not form a cycle",
        )


def _check_flow(config: GraphConfig, report: _Collector) -> None:
    if config.nodes and not any(reads_start(node) for node in config.nodes):
        report.error(None, "input_nodes", "no node reads 'start': add 'start' to the input_nodes of the first node")
    if config.nodes and not any(writes_end(node) for node in config.nodes):
        report.error(None, "output_nodes", "no node writes 'end': add 'end' to the output_nodes of the last node")
    edges = graph_edges(config)
    names = list(nodes_by_name(config))
    for cycle in find_cycles(names, successors(edges, routing=False)):
        shown = " → ".join(cycle)
        report.error(
            cycle[0],
            "handoffs",
            f"{shown} is a loop of plain edges, which could never start; make one of these nodes a router "
            "(set its handoffs, e.g. 1) so the loop is only taken by its choice, or remove an edge",
        )
    nodes = nodes_by_name(config)
    all_successors = successors(edges)
    reached = reachable([node.name for node in config.nodes if reads_start(node)], all_successors)
    for name, node in nodes.items():
        if name not in reached and any(reads_start(other) for other in config.nodes):
            report.warn(name, "input_nodes", "no path from 'start' leads to this node, so it never runs")
        if node.is_router and not node.is_subgraph and not all_successors.get(name):
            report.warn(name, "handoffs", "the node has no output node to hand off to, so handoffs has no effect")
        for source in node.context:
            source_node = nodes.get(source)
            if source_node is not None and not source_node.global_output:
                report.warn(
                    name,
                    "context",
                    f"'{source}' does not set global_output, so reading it as context adds nothing; "
                    f"set global_output on '{source}'",
                )
