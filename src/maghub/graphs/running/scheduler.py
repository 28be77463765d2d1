"""Which nodes of a compiled graph may run now: the dataflow rules of SPEC §6, without any I/O.

The engine asks :meth:`Scheduler.ready`, starts those nodes, and reports each end with
:meth:`Scheduler.finished`. The same calls, replayed from stored rounds in the order the nodes
finished, rebuild the state of an interrupted run (resume after a crash re-runs no finished node).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from maghub.graphs.definition.compile import CompiledGraph, CompiledNode


class NodeStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"


@dataclass
class NodeState:
    status: NodeStatus = NodeStatus.PENDING
    delivered: bool = False
    """Something delivered to the node in its current pass (an input, or the run's input)."""
    runs: int = 0
    """Executions started in this turn (a loop runs a node several times)."""
    handoffs_used: int = 0


class Scheduler:
    def __init__(self, graph: CompiledGraph) -> None:
        self.graph = graph
        self.nodes = {name: NodeState(delivered=node.reads_start) for name, node in graph.nodes.items()}
        self._edges_out = {name: graph.successors(name) for name in graph.nodes}

    def ready(self) -> list[str]:
        """Nodes that may start now, in topological order; settles skips (which propagate) first."""
        ready: list[str] = []
        changed = True
        while changed:
            changed = False
            ready.clear()
            for name in self.graph.order:
                state = self.nodes[name]
                if state.status != NodeStatus.PENDING:
                    continue
                node = self.graph.nodes[name]
                if any(self._unfinished(predecessor) for predecessor in node.forward_predecessors):
                    continue
                if state.delivered:
                    ready.append(name)
                else:  # every forward input finished and none delivered: nothing to work on
                    state.status = NodeStatus.SKIPPED
                    changed = True
        return ready

    def start(self, name: str) -> None:
        state = self.nodes[name]
        state.status = NodeStatus.RUNNING
        state.runs += 1

    def transfers_left(self, node: CompiledNode) -> bool:
        return node.handoffs is not None and self.nodes[node.name].handoffs_used < node.handoffs

    def finished(self, name: str, choice: str | None = None) -> None:
        """``name`` is done; ``choice`` is the handoff target it chose (a name of
        :attr:`CompiledNode.handoff_targets`), None when it made none."""
        state = self.nodes[name]
        state.status = NodeStatus.DONE
        node = self.graph.nodes[name]
        target = next((t for t in node.handoff_targets if t.name == choice), None) if choice else None
        if target is None:
            # No choice: every forward edge delivers (the original's "every branch runs"); a back
            # edge is only ever taken by an explicit choice.
            for edge in self._edges_out[name]:
                if not edge.back:
                    self.nodes[edge.target].delivered = True
            return
        state.handoffs_used += 1
        if target.back:
            for reset in self.graph.reactivation.get(target.node, frozenset()):
                if self.nodes[reset].status != NodeStatus.RUNNING:
                    self.nodes[reset].status = NodeStatus.PENDING
                    self.nodes[reset].delivered = False
        self.nodes[target.node].delivered = True

    def status(self, name: str) -> NodeStatus:
        return self.nodes[name].status

    def _unfinished(self, name: str) -> bool:
        return self.nodes[name].status in (NodeStatus.PENDING, NodeStatus.RUNNING)
