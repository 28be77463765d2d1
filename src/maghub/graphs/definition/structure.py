"""The edges of one graph and the graph algorithms validation and compilation share (SPEC §5, §6).

An edge A→B exists when B ∈ A.output_nodes or A ∈ B.input_nodes; it is a *routing* edge when A has
``handoffs`` (even 0). ``start`` and ``end`` are not nodes, so they are never edge ends here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from maghub.graphs.definition.config import END, START, GraphConfig, NodeConfig


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    routing: bool


def nodes_by_name(config: GraphConfig) -> dict[str, NodeConfig]:
    """Each name's first node (validation reports the duplicates)."""
    found: dict[str, NodeConfig] = {}
    for node in config.nodes:
        found.setdefault(node.name, node)
    return found


def graph_edges(config: GraphConfig) -> list[Edge]:
    """Every edge between nodes, once, sources in config order, each source's targets in the order of its
    ``output_nodes`` and then of the nodes that list it in ``input_nodes``."""
    nodes = nodes_by_name(config)
    pairs: dict[tuple[str, str], None] = {}
    for node in config.nodes:
        for target in node.output_nodes:
            if target in nodes:
                pairs.setdefault((node.name, target))
    for node in config.nodes:
        for source in node.input_nodes:
            if source in nodes:
                pairs.setdefault((source, node.name))
    ordered = sorted(pairs, key=_source_position(config))
    return [Edge(source, target, nodes[source].is_router) for source, target in ordered]


def _source_position(config: GraphConfig) -> Callable[[tuple[str, str]], int]:
    position = {name: index for index, name in reversed(list(enumerate(config.node_names)))}
    return lambda pair: position[pair[0]]  # sorted() is stable: per source, insertion order stays


def node_inputs(config: GraphConfig, node: NodeConfig, edges: Iterable[Edge]) -> list[str]:
    """What ``node`` reads, in order: its ``input_nodes`` (``start`` included) that exist, then the
    sources of the other edges into it, in config order."""
    nodes = nodes_by_name(config)
    inputs = [name for name in node.input_nodes if name == START or name in nodes]
    inputs += [edge.source for edge in edges if edge.target == node.name]
    return list(dict.fromkeys(inputs))


def reads_start(node: NodeConfig) -> bool:
    return START in node.input_nodes


def writes_end(node: NodeConfig) -> bool:
    return END in node.output_nodes


def successors(edges: Iterable[Edge], *, routing: bool | None = None) -> dict[str, list[str]]:
    """source → targets, optionally only routing (True) or only plain (False) edges."""
    found: dict[str, list[str]] = {}
    for edge in edges:
        if routing is None or edge.routing == routing:
            found.setdefault(edge.source, []).append(edge.target)
    return found


def reachable(starts: Iterable[str], next_nodes: Mapping[str, Collection[str]]) -> set[str]:
    """Every node reachable from ``starts`` (the starts included)."""
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(next_nodes.get(name, ()))
    return seen


def find_cycles(names: Iterable[str], next_nodes: Mapping[str, Collection[str]]) -> list[list[str]]:
    """One cycle (as a node path, first node repeated at the end) per strongly connected group of nodes
    that has one; groups in the order of ``names``."""
    order = list(names)
    components = _strong_components(order, next_nodes)
    cycles = []
    for component in components:
        first = min(component, key=order.index)
        if len(component) > 1 or first in next_nodes.get(first, ()):
            cycles.append(_cycle_through(first, component, next_nodes))
    return sorted(cycles, key=lambda cycle: order.index(cycle[0]))


def _strong_components(order: list[str], next_nodes: Mapping[str, Collection[str]]) -> list[set[str]]:
    # Tarjan's algorithm without recursion (a generated graph may be deep).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    for root in order:
        if root in index:
            continue
        work = [(root, iter(next_nodes.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            name, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(next_nodes.get(child, ()))))
                elif child in on_stack:
                    low[name] = min(low[name], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[name])
            if low[name] == index[name]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == name:
                        break
                components.append(component)
    return components


def _cycle_through(first: str, component: set[str], next_nodes: Mapping[str, Collection[str]]) -> list[str]:
    """A shortest path first → … → first inside ``component`` (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [first]
    while frontier:
        following = []
        for name in frontier:
            for child in next_nodes.get(name, ()):
                if child not in component:
                    continue
                if child == first:
                    path = [name]
                    while path[-1] != first:
                        path.append(previous[path[-1]])
                    return [*reversed(path), first]
                if child not in previous:
                    previous[child] = name
                    following.append(child)
        frontier = following
    return [first, first]  # pragma: no cover - a component with a cycle always has one


def reference_path(start: str, target: str, references: Mapping[str, Collection[str]]) -> list[str] | None:
    """A chain of subgraph references start → … → target, or None if there is none."""
    previous: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        following = []
        for name in frontier:
            if name == target:
                path = [name]
                while (before := previous[path[-1]]) is not None:
                    path.append(before)
                return list(reversed(path))
            for child in sorted(references.get(name, ())):
                if child not in previous:
                    previous[child] = name
                    following.append(child)
        frontier = following
    return None
