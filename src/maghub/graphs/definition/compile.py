"""Compile a graph for a run: subgraphs expanded, edges classified, levels and join sets computed.

:func:`compile_graph` turns a stored configuration (subgraph nodes are references, SPEC §3) and the
graphs it refers to into one immutable :class:`CompiledGraph`. It is everything a run engine needs to
schedule nodes (SPEC §6); the engine never has to look at ``input_nodes``/``output_nodes`` itself.

**Names.** Every compiled node has a unique *compiled name*. Nodes of the top-level graph keep their
names. A subgraph node ``S`` running graph ``G`` becomes two pass-through nodes plus G's nodes:

=================  ======================  ===========================================================
compiled name      kind                    role
=================  ======================  ===========================================================
``S/start``        ``SUBGRAPH_INPUT``      reads what flows into ``S`` (S's inputs and context, built
                                           like an agent node's input); its output is what G's nodes
                                           read as ``start``
``S/X``            ``AGENT`` (or deeper)   node ``X`` of G; ``S/T/X`` two levels down
``S``              ``SUBGRAPH_OUTPUT``     its output is G's result: G's ``end_template`` filled in, or
                                           the outputs of G's nodes writing ``end``, as for a whole run;
                                           what nodes after ``S`` read (``{S}`` placeholders)
=================  ======================  ===========================================================

``/`` cannot appear in node names and ``start`` is reserved, so compiled names never collide. The
name ``start`` alone (:data:`RUN_INPUT`) is the run's input; it is not a node.

**How an engine runs it** (SPEC §6):

- A node is ready when every name in its :attr:`CompiledNode.forward_predecessors` is finished for
  the current pass (done or skipped) and at least one of them delivered to it — or it
  :attr:`~CompiledNode.reads_start`. A node whose forward inputs were all skipped is skipped; so is,
  in a pass, a node with no forward predecessors that does not read start (it runs only when a back
  edge to it is taken, which resets it to pending and makes it ready at once).
- ``AGENT`` nodes run the agent loop with ``config`` (model, MCP servers, prompts). Their placeholders
  ``{name}`` are the ``name`` of :attr:`~CompiledNode.inputs` / :attr:`~CompiledNode.context` entries,
  whose ``node`` says whose output to read; ``{file.ext}`` reads :meth:`CompiledGraph.prompt_file`.
- ``SUBGRAPH_INPUT`` nodes make no LLM call: their output is their input text. ``SUBGRAPH_OUTPUT``
  nodes make none either: their output is the inner scope's result (:attr:`CompiledNode.inner_scope`,
  see :class:`Scope`). ``global_output`` and ``save`` of a subgraph node apply to its output node.
- Delivery: a finished node delivers along every edge in :attr:`CompiledGraph.edges` out of it,
  except that a node with :attr:`~CompiledNode.handoffs` that chose a target ``T`` delivers only along
  its edge to ``T`` (its other routing edges are skipped), and back edges are only taken by choice.
  :attr:`~CompiledNode.handoff_targets` lists the choices (``transfer_to_<name>`` tools).
- Taking a back edge to ``T`` starts a new pass for every node in
  ``CompiledGraph.reactivation[T]`` (``T`` and everything forward-reachable from it): reset them to
  pending *before* deciding which nodes are ready, so nodes downstream of the loop wait for it.
- Final result: :attr:`CompiledGraph.end_template` with the top-level :class:`Scope`'s names, else the
  outputs of :attr:`CompiledGraph.end_writers` that ran in their last pass, in that order.
- Events carry the compiled name as ``node_name`` and :attr:`CompiledNode.scope` as ``run_path``;
  ``level`` is :attr:`CompiledNode.level`.

Errors found here (a missing subgraph, a reference cycle, an invalid graph) raise
:class:`~maghub.graphs.definition.validation.GraphValidationError`. Unknown models and MCP servers are the
engine's to report when the run starts: :meth:`CompiledGraph.unknown_references` lists them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from maghub.graphs.definition.config import START, GraphConfig, NodeConfig
from maghub.graphs.definition.structure import (
    find_cycles,
    graph_edges,
    node_inputs,
    reachable,
    reads_start,
    writes_end,
)
from maghub.graphs.definition.validation import Catalog, GraphProblem, GraphValidationError, validate_graph

RUN_INPUT = START
"""The compiled name of the run's input (what top-level nodes read as ``start``); not a node."""

SEPARATOR = "/"


class NodeKind(StrEnum):
    AGENT = "agent"
    """An LLM node: run the agent loop."""
    SUBGRAPH_INPUT = "subgraph_input"
    """``S/start``: no LLM call; output = its input text (what flows into subgraph node ``S``)."""
    SUBGRAPH_OUTPUT = "subgraph_output"
    """``S``: no LLM call; output = the result of the subgraph's scope."""


@dataclass(frozen=True, slots=True)
class NodeInput:
    """One thing a node reads: ``name`` as its configuration writes it (the ``{name}`` placeholder),
    ``node`` the compiled name whose output that is (:data:`RUN_INPUT` for the run's input)."""

    name: str
    node: str


@dataclass(frozen=True, slots=True)
class HandoffTarget:
    """One choice of a router node: offered as ``transfer_to_<name>``."""

    name: str
    """The target as the router's configuration names it."""
    node: str
    """The compiled node a choice activates (``S/start`` when the target is a subgraph node ``S``)."""
    description: str
    """The target's description, for the transfer tool."""
    back: bool
    """A back edge: choosing it starts a new pass of ``CompiledGraph.reactivation[node]``."""


@dataclass(frozen=True, slots=True)
class CompiledEdge:
    source: str
    target: str
    routing: bool
    """Out of a node with ``handoffs`` set: delivered unless the node chose another target."""
    back: bool
    """A routing edge closing a loop (its source is reachable from its target): taken only by choice."""


@dataclass(frozen=True)
class Scope:
    """One graph as it runs: the top-level graph (``path`` ``""``) or a subgraph node's graph
    (``path`` ``"S"``, ``"S/T"``). A subgraph's result is computed from its scope like a run's."""

    path: str
    graph_name: str
    """Whose prompt files ``{file.ext}`` placeholders of this scope's nodes read."""
    config: GraphConfig
    input_node: str
    """What ``start`` means here: :data:`RUN_INPUT` at the top, ``S/start`` inside ``S``."""
    output_node: str | None
    """The ``SUBGRAPH_OUTPUT`` node carrying this scope's result; None at the top."""
    names: Mapping[str, str]
    """Local name (each node, and ``start``) → compiled name whose output it means, for placeholders
    of ``end_template`` (``{X}``, ``{X:all}``, ``{X:N}``, ``{start}``)."""
    end_writers: tuple[str, ...]
    """Compiled names of the nodes with ``end`` in their outputs, in config order."""

    @property
    def end_template(self) -> str | None:
        return self.config.end_template


@dataclass(frozen=True)
class CompiledNode:
    name: str
    """Unique compiled name (``X``, ``S/X``, ``S/start``, ``S``)."""
    kind: NodeKind
    local_name: str
    """The name in its own graph's configuration (``X``; ``start`` for a subgraph input node)."""
    scope: str
    """The path of the scope the node belongs to (``""`` at the top); events' ``run_path``."""
    inner_scope: str | None
    """For subgraph input and output nodes: the path of the subgraph's scope."""
    config: NodeConfig
    """The node's configuration; for subgraph input and output nodes, the subgraph node's."""
    level: int
    """Depth: the longest forward path from ``start``, counted in agent nodes (pass-through nodes add none)."""
    inputs: tuple[NodeInput, ...]
    """What it reads, in order: ``input_nodes``, then other edges' sources (for an output node: the
    subgraph's nodes writing ``end``)."""
    context: tuple[NodeInput, ...]
    """Nodes whose global outputs it reads (``context``), limited by ``config.context_limit``."""
    reads_start: bool
    """Reads the run's input: ready at the start of a pass without any forward predecessor."""
    forward_predecessors: frozenset[str]
    """The join set: nodes that must finish (done or skipped) in the current pass first."""
    handoffs: int | None
    """Max transfers per run (``None``: not a router). Always None for pass-through nodes."""
    handoff_targets: tuple[HandoffTarget, ...]
    """The transfer choices of a router, in configuration order (``end`` is never one)."""
    writes_end: bool
    """Its output is part of its scope's result."""

    @property
    def is_agent(self) -> bool:
        return self.kind == NodeKind.AGENT


@dataclass(frozen=True)
class CompiledGraph:
    name: str
    config: GraphConfig
    nodes: Mapping[str, CompiledNode]
    """Every node by compiled name, in configuration order with each subgraph expanded in place."""
    edges: tuple[CompiledEdge, ...]
    scopes: Mapping[str, Scope]
    """By path; ``scopes[""]`` is the top-level graph."""
    order: tuple[str, ...]
    """A topological order of the forward edges (ties in configuration order)."""
    reactivation: Mapping[str, frozenset[str]]
    """Back-edge target → the nodes a new pass resets to pending (the target and every node reachable
    from it by forward edges)."""
    versions: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """Graph name → the version compiled (filled by the registry)."""
    prompt_files: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))
    """Graph name → its prompt files, as they were when the run started."""

    @property
    def end_writers(self) -> tuple[str, ...]:
        return self.scopes[""].end_writers

    @property
    def end_template(self) -> str | None:
        return self.config.end_template

    def agent_nodes(self) -> Iterator[CompiledNode]:
        return (node for node in self.nodes.values() if node.is_agent)

    def successors(self, name: str) -> list[CompiledEdge]:
        return [edge for edge in self.edges if edge.source == name]

    def prompt_file(self, node: CompiledNode, file_name: str) -> str | None:
        """The text of ``{file_name}`` for ``node`` (its own graph's prompt files), or None."""
        return self.prompt_files.get(self.scopes[node.scope].graph_name, {}).get(file_name)

    def model_names(self) -> set[str]:
        return {node.config.model_name for node in self.agent_nodes() if node.config.model_name}

    def mcp_server_names(self) -> set[str]:
        return {server for node in self.agent_nodes() for server in node.config.mcp_servers}

    def unknown_references(self, models: Collection[str], mcp_servers: Collection[str]) -> list[GraphProblem]:
        """The models and MCP servers the nodes use that are not configured (a run must not start)."""
        problems = []
        for node in self.agent_nodes():
            model = node.config.model_name
            if model is not None and model not in models:
                problems.append(
                    GraphProblem(node.name, "model_name", f"model '{model}' is not configured; add it (POST /models)")
                )
            for server in node.config.mcp_servers:
                if server not in mcp_servers:
                    message = f"MCP server '{server}' is not configured; add it (POST /mcp/add)"
                    problems.append(GraphProblem(node.name, "mcp_servers", message))
        return problems


def compile_graph(
    config: GraphConfig,
    graphs: Mapping[str, GraphConfig],
    *,
    versions: Mapping[str, int] | None = None,
    prompt_files: Mapping[str, Mapping[str, str]] | None = None,
) -> CompiledGraph:
    """Compile ``config``; ``graphs`` holds (at least) every graph its subgraph nodes refer to, directly
    or not. Raises :class:`GraphValidationError` when any of them is invalid or missing."""
    builder = _Builder(config, graphs)
    builder.add_scope(config, path="", input_node=RUN_INPUT, output_node=None, stack=(config.name,))
    return builder.finish(versions or {}, prompt_files or {})


@dataclass(frozen=True)
class _Draft:
    """A node before the whole graph is known (levels, join sets and back edges come last)."""

    name: str
    kind: NodeKind
    local_name: str
    scope: str
    inner_scope: str | None
    config: NodeConfig
    inputs: list[NodeInput]
    context: list[NodeInput]

    @property
    def writes_end(self) -> bool:
        # A subgraph node's "end" is written by its output node, not by its input node.
        return writes_end(self.config) and self.kind != NodeKind.SUBGRAPH_INPUT


class _Builder:
    def __init__(self, top: GraphConfig, graphs: Mapping[str, GraphConfig]) -> None:
        self.top = top
        self.graphs = {**graphs, top.name: top}
        self.references = {name: graph.subgraph_names() for name, graph in self.graphs.items()}
        self.drafts: dict[str, _Draft] = {}
        self.edges: dict[tuple[str, str], bool] = {}  # (source, target) → routing
        self.scopes: dict[str, Scope] = {}
        self.router_edges: dict[str, list[tuple[str, str, str]]] = {}  # compiled router → (local, target, description)
        self.validated: set[str] = set()

    # --- expansion ---------------------------------------------------------------------------------

    def add_scope(
        self, config: GraphConfig, *, path: str, input_node: str, output_node: str | None, stack: tuple[str, ...]
    ) -> None:
        self._require_valid(config, path)
        prefix = f"{path}{SEPARATOR}" if path else ""
        local_edges = graph_edges(config)
        # What a local name means as a source (its output) and as a target (where delivery goes).
        output_of = {START: input_node, **{node.name: prefix + node.name for node in config.nodes}}
        entry_of = {
            node.name: prefix + node.name + (SEPARATOR + START if node.is_subgraph else "") for node in config.nodes
        }

        def resolve(names: list[str] | tuple[str, ...]) -> list[NodeInput]:
            return [NodeInput(name, output_of[name]) for name in names if name in output_of]

        for node in config.nodes:
            inputs = resolve(node_inputs(config, node, local_edges))
            context = resolve(node.context)
            if not node.is_subgraph:
                self._add(_Draft(prefix + node.name, NodeKind.AGENT, node.name, path, None, node, inputs, context))
                continue
            inner_path = prefix + node.name
            inner = self._subgraph(node, inner_path, stack)
            entry = entry_of[node.name]
            self._add(_Draft(entry, NodeKind.SUBGRAPH_INPUT, START, path, inner_path, node, inputs, context))
            self.add_scope(inner, path=inner_path, input_node=entry, output_node=inner_path, stack=(*stack, inner.name))
            inner_names = self.scopes[inner_path].names
            results = [NodeInput(n.name, inner_names[n.name]) for n in inner.nodes if writes_end(n)]
            self._add(_Draft(inner_path, NodeKind.SUBGRAPH_OUTPUT, node.name, path, inner_path, node, results, []))

        for edge in local_edges:
            self.edges[(output_of[edge.source], entry_of[edge.target])] = edge.routing
        descriptions = {node.name: node.description for node in reversed(config.nodes)}
        for node in config.nodes:
            if node.is_router and not node.is_subgraph:
                targets = [edge.target for edge in local_edges if edge.source == node.name]
                self.router_edges[prefix + node.name] = [(t, entry_of[t], descriptions[t]) for t in targets]
            if output_node is not None:
                # Inside a subgraph, "start" and "end" are the subgraph node's input and output nodes.
                if reads_start(node):
                    self.edges.setdefault((input_node, entry_of[node.name]), False)
                if writes_end(node):
                    self.edges.setdefault((output_of[node.name], output_node), False)

        self.scopes[path] = Scope(
            path=path,
            graph_name=config.name,
            config=config,
            input_node=input_node,
            output_node=output_node,
            names=MappingProxyType(dict(output_of)),
            end_writers=tuple(output_of[node.name] for node in config.nodes if writes_end(node)),
        )

    def _add(self, draft: _Draft) -> None:
        self.drafts[draft.name] = draft

    def _subgraph(self, node: NodeConfig, path: str, stack: tuple[str, ...]) -> GraphConfig:
        target = node.subgraph_name or ""
        if target in stack:
            chain = " → ".join([*stack, target])
            raise self._error(path, "subgraph_name", f"subgraphs form a cycle ({chain}); remove one reference")
        inner = self.graphs.get(target)
        if inner is None:
            raise self._error(path, "subgraph_name", f"there is no graph named '{target}'; save it or fix the name")
        return inner

    def _require_valid(self, config: GraphConfig, path: str) -> None:
        if config.name in self.validated:
            return
        report = validate_graph(config, Catalog(graphs=self.references))
        if report.errors:
            if not path:
                raise GraphValidationError(self.top.name, report.errors)
            prefix = f"{path}{SEPARATOR}"
            problems = [
                GraphProblem(
                    prefix + problem.node if problem.node else path,
                    problem.field,
                    f"(in graph '{config.name}') {problem.message}",
                )
                for problem in report.errors
            ]
            raise GraphValidationError(self.top.name, problems)
        self.validated.add(config.name)

    def _error(self, node: str, field_name: str, message: str) -> GraphValidationError:
        return GraphValidationError(self.top.name, [GraphProblem(node, field_name, message)])

    # --- analysis ----------------------------------------------------------------------------------

    def finish(self, versions: Mapping[str, int], prompt_files: Mapping[str, Mapping[str, str]]) -> CompiledGraph:
        names = list(self.drafts)
        all_next: dict[str, list[str]] = {}
        for source, target in self.edges:
            all_next.setdefault(source, []).append(target)
        reach = {name: reachable([name], all_next) for name in names}
        edges = tuple(
            CompiledEdge(source, target, routing, back=routing and source in reach[target])
            for (source, target), routing in self.edges.items()
        )
        forward_next: dict[str, list[str]] = {}
        forward_prev: dict[str, set[str]] = {name: set() for name in names}
        for edge in edges:
            if not edge.back:
                forward_next.setdefault(edge.source, []).append(edge.target)
                forward_prev[edge.target].add(edge.source)
        order = self._topological_order(names, forward_next, forward_prev)
        levels: dict[str, int] = {}
        for name in order:
            levels[name] = max(
                (levels[p] + (1 if self.drafts[p].kind == NodeKind.AGENT else 0) for p in forward_prev[name]),
                default=0,
            )
        back = {edge.target for edge in edges if edge.back}
        reactivation = {target: frozenset(reachable([target], forward_next)) for target in sorted(back)}
        back_pairs = {(edge.source, edge.target) for edge in edges if edge.back}
        nodes = {
            name: self._node(self.drafts[name], levels[name], frozenset(forward_prev[name]), back_pairs)
            for name in names
        }
        return CompiledGraph(
            name=self.top.name,
            config=self.top,
            nodes=MappingProxyType(nodes),
            edges=edges,
            scopes=MappingProxyType(dict(self.scopes)),
            order=tuple(order),
            reactivation=MappingProxyType(reactivation),
            versions=MappingProxyType(dict(versions)),
            prompt_files=MappingProxyType({name: MappingProxyType(dict(f)) for name, f in prompt_files.items()}),
        )

    def _node(
        self, draft: _Draft, level: int, forward_predecessors: frozenset[str], back_pairs: set[tuple[str, str]]
    ) -> CompiledNode:
        is_agent = draft.kind == NodeKind.AGENT
        targets = tuple(
            HandoffTarget(local, target, description, back=(draft.name, target) in back_pairs)
            for local, target, description in self.router_edges.get(draft.name, [])
        )
        return CompiledNode(
            name=draft.name,
            kind=draft.kind,
            local_name=draft.local_name,
            scope=draft.scope,
            inner_scope=draft.inner_scope,
            config=draft.config,
            level=level,
            inputs=tuple(draft.inputs),
            context=tuple(draft.context),
            reads_start=any(item.node == RUN_INPUT for item in draft.inputs),
            forward_predecessors=forward_predecessors,
            handoffs=draft.config.handoffs if is_agent else None,
            handoff_targets=targets,
            writes_end=draft.writes_end,
        )

    def _topological_order(
        self, names: list[str], forward_next: Mapping[str, list[str]], forward_prev: Mapping[str, set[str]]
    ) -> list[str]:
        position = {name: index for index, name in enumerate(names)}
        waiting = {name: len(forward_prev[name]) for name in names}
        ready = sorted((name for name in names if not waiting[name]), key=position.__getitem__)
        order: list[str] = []
        while ready:
            name = ready.pop(0)
            order.append(name)
            for child in forward_next.get(name, ()):
                waiting[child] -= 1
                if not waiting[child]:
                    ready.append(child)
                    ready.sort(key=position.__getitem__)
        if len(order) < len(names):
            # Validation rejects loops of plain edges; a loop left here spans a subgraph boundary.
            remaining = [name for name in names if waiting[name]]
            cycle = find_cycles(
                remaining, {n: [c for c in forward_next.get(n, ()) if c in remaining] for n in remaining}
            )
            shown = " → ".join(cycle[0]) if cycle else ", ".join(remaining)
            raise self._error(
                remaining[0],
                "handoffs",
                f"{shown} is a loop of plain edges, which could never start; make one of its nodes a router",
            )
        return order
