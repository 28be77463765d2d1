"""The persisted state of a graph run (SPEC §6 Durability): one definition, read by the resume (the
engine's replay), the run view (``GET /graphs/runs/{id}``) and written by the engine as it runs.

A run is a conversation of type ``graph``:

- the conversation's ``details`` hold a :class:`RunState`: the graph, the current turn, the run's
  status and the result of its last turn;
- each round's ``details`` hold a :class:`NodeRound`: the turn's input (a ``start`` round) or one
  node execution, and once that ended its :class:`NodeEnd` (output, handoff, finishing order).
  The completed rounds of a turn are all a resume needs: it replays their ends in finishing order.

The JSON keys are the ones maghub has always written (the conversation detail, ``GET
/chat/conversations/{id}``, shows them as they are stored). ``RunState`` carries
``state_version`` (:data:`RUN_STATE_VERSION`) for the run's whole stored state, rounds included:
rows written before it existed are version 1. A change of either shape bumps the version in a
migration that rewrites the stored rows (so a reader only ever sees the current version); a row of
a newer version than this code knows is refused rather than misread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Self

from maghub.errors import ConflictError
from maghub.states import STATE_VERSION_KEY

if TYPE_CHECKING:
    from maghub.graphs.definition.compile import NodeKind  # a leaf module: the CLI imports it, not the compiler

RUN_STATE_VERSION = 1
START_NODE = "start"
"""The node name of a turn's ``start`` round (the run's input)."""


class RunStatus(StrEnum):
    RUNNING = "running"
    """A turn is running, or was when its process died (read back as interrupted)."""
    COMPLETED = "completed"
    FAILED = "failed"
    """A node failed (its model, a loop without end); resumable."""
    CANCELLED = "cancelled"
    """Stopped by a request, Ctrl-C or a client that left; resumable."""
    INTERRUPTED = "interrupted"
    """Its process stopped (shutdown, crash, an internal error); resumable."""


class RoundKind(StrEnum):
    """What a round of a graph run records."""

    START = START_NODE
    """A turn's input (the run's ``start``), stored as the round's one user message."""
    # One for each NodeKind, with its value:
    AGENT = "agent"
    SUBGRAPH_INPUT = "subgraph_input"
    SUBGRAPH_OUTPUT = "subgraph_output"

    @classmethod
    def of(cls, kind: NodeKind) -> RoundKind:
        return cls(kind.value)


@dataclass(frozen=True, slots=True)
class NodeEnd:
    """How a node execution ended, stored with its round when it completed."""

    output: str
    transfer: str | None
    """The node it handed off to (a router's choice), if any."""
    finished: int
    """Its place in the order the turn's nodes finished (stored as ``seq``): a resume replays in it."""
    saved_file: str | None = None
    """The file its output was saved to (``save``), relative to the data dir."""


@dataclass(frozen=True, slots=True)
class NodeRound:
    """A round's ``details`` in a graph run: which node execution (or turn start) the round is."""

    node_name: str
    level: int
    turn: int
    kind: RoundKind
    run_path: str = ""
    """The subgraph scope of the node ("" at the top)."""
    pass_number: int = 0
    """Executions of the node started in this turn, this one included (stored as ``pass``)."""
    output_enabled: bool = True
    mcp_servers: tuple[str, ...] = ()
    end: NodeEnd | None = None
    """Set once the node completed."""

    @classmethod
    def start(cls, turn: int) -> Self:
        return cls(START_NODE, 0, turn, RoundKind.START)

    @property
    def is_start(self) -> bool:
        return self.kind == RoundKind.START

    def ended(self, end: NodeEnd) -> Self:
        return dataclasses.replace(self, end=end)

    def to_json(self) -> dict[str, Any]:
        stored: dict[str, Any] = {
            "node_name": self.node_name,
            "level": self.level,
            "turn": self.turn,
            "kind": self.kind.value,
        }
        if self.is_start:
            return stored
        stored |= {
            "run_path": self.run_path,
            "pass": self.pass_number,
            "output_enabled": self.output_enabled,
            "mcp_servers": list(self.mcp_servers),
        }
        if self.end is not None:
            stored |= {"output": self.end.output, "transfer": self.end.transfer, "seq": self.end.finished}
            if self.kind == RoundKind.AGENT:  # only agent nodes save files
                stored["saved_file"] = self.end.saved_file
        return stored

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> Self:
        end = None
        if "output" in stored:
            end = NodeEnd(
                str(stored["output"] or ""),
                stored.get("transfer"),
                int(stored.get("seq") or 0),
                stored.get("saved_file"),
            )
        return cls(
            node_name=str(stored.get("node_name") or ""),
            level=int(stored.get("level") or 0),
            turn=int(stored.get("turn") or 0),
            kind=RoundKind(stored.get("kind") or RoundKind.AGENT),
            run_path=str(stored.get("run_path") or ""),
            pass_number=int(stored.get("pass") or 0),
            output_enabled=bool(stored.get("output_enabled", True)),
            mcp_servers=tuple(stored.get("mcp_servers") or ()),
            end=end,
        )


@dataclass(frozen=True, slots=True)
class RunState:
    """A graph run conversation's ``details``."""

    graph_name: str
    turn: int = 0
    """The current turn (each new input starts one; a resume continues it)."""
    status: RunStatus = RunStatus.RUNNING
    """Of the current turn (stored as ``run_status``)."""
    final_result: str | None = None
    execution_chain: list[list[str]] = field(default_factory=list)
    """The nodes the turn started, grouped by level as they ran (SPEC §6)."""
    error: str | None = None
    """Why the turn did not complete."""

    def to_json(self) -> dict[str, Any]:
        return {
            STATE_VERSION_KEY: RUN_STATE_VERSION,
            "graph_name": self.graph_name,
            "turn": self.turn,
            "run_status": self.status.value,
            "final_result": self.final_result,
            "execution_chain": [list(level) for level in self.execution_chain],
            "error": self.error,
        }

    @classmethod
    def from_json(cls, conversation_id: str, stored: Mapping[str, Any]) -> Self:
        version = int(stored.get(STATE_VERSION_KEY) or 1)
        if version > RUN_STATE_VERSION:
            raise ConflictError(
                f"Graph run '{conversation_id}' was stored by a newer maghub (state version {version}; this "
                f"one reads up to {RUN_STATE_VERSION}). Run it with that version."
            )
        return cls(
            graph_name=str(stored.get("graph_name") or ""),
            turn=int(stored.get("turn") or 0),
            status=RunStatus(stored.get("run_status") or RunStatus.RUNNING),
            final_result=stored.get("final_result"),
            execution_chain=[list(level) for level in stored.get("execution_chain") or []],
            error=stored.get("error"),
        )
