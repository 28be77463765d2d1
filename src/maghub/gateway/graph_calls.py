"""A graph tool call: one run through the run manager, as ``POST /graphs/execute`` makes it (stored,
owned, in the run history, cancellable), reported as per-node progress and a tool result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from maghub.errors import InvalidInputError
from maghub.graphs.running.events import NodeFailed, NodeFinished, NodeStarted, RunFinished
from maghub.graphs.running.runs import ExecuteRequest, LiveRun, RunManager
from maghub.graphs.running.state import RunStatus

Progress = Callable[[float, str], Awaitable[None]]
"""``(progress, message)``: sent as an MCP progress notification when the client asked for them."""

_KNOWN_ARGUMENTS = {"input", "conversation_id", "background"}


@dataclass(frozen=True)
class GraphCall:
    input_text: str
    conversation_id: str | None = None
    background: bool = False

    @classmethod
    def from_arguments(cls, arguments: dict[str, Any] | None) -> GraphCall:
        """The arguments checked against the graph tools' input schema, with a message saying what to fix."""
        arguments = arguments or {}
        unknown = sorted(set(arguments) - _KNOWN_ARGUMENTS)
        if unknown:
            raise InvalidInputError(
                f"Unknown arguments {unknown}: a graph tool takes input, conversation_id, background."
            )
        text = arguments.get("input")
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError("`input` must be a non-empty string: what the graph should work on.")
        conversation_id = arguments.get("conversation_id")
        if conversation_id is not None and (not isinstance(conversation_id, str) or len(conversation_id) > 200):
            raise InvalidInputError("`conversation_id` must be a string from an earlier result's structured content.")
        background = arguments.get("background", False)
        if not isinstance(background, bool):
            raise InvalidInputError("`background` must be true or false.")
        return cls(text, conversation_id or None, background)


@dataclass
class GraphOutcome:
    conversation_id: str
    finished: RunFinished

    @property
    def structured(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "status": self.finished.status,
            "execution_chain": self.finished.execution_chain,
            "error": self.finished.error,
        }

    @property
    def text(self) -> str:
        if self.finished.status == "completed":
            return self.finished.final_result
        reason = f": {self.finished.error}" if self.finished.error else ""
        return f"The run {self.finished.status}{reason} (conversation_id {self.conversation_id})."


async def run_graph(
    runs: RunManager, graph_name: str, call: GraphCall, user_id: str, progress: Progress
) -> GraphOutcome:
    """Start the run and follow it to its end. Cancelling the caller (the client's cancel notification,
    or its disconnect) stops the run, unless the call asked for ``background``."""
    live = await runs.start(
        ExecuteRequest(graph_name, call.input_text, user_id, call.conversation_id), background=call.background
    )
    finished: RunFinished | None = None
    try:
        steps = 0  # progress must grow with each notification: one step per node start and end
        async for event in live.events():
            if isinstance(event, RunFinished):
                finished = event
            elif isinstance(event, (NodeStarted, NodeFinished, NodeFailed)):
                steps += 1
                await progress(steps, _describe(event))
    finally:
        if finished is None:
            _leave(live)
    if finished is None:  # the event stream ended without a verdict: the manager was shut down
        finished = RunFinished(RunStatus.INTERRUPTED, "", live.turn.chain(), "maghub shut down during the run")
    return GraphOutcome(live.conversation_id, finished)


def _leave(live: LiveRun) -> None:
    if live.background:
        live.stop_listening()
    else:
        live.stop(RunStatus.CANCELLED, "the MCP client cancelled the call or disconnected")


def _describe(event: NodeStarted | NodeFinished | NodeFailed) -> str:
    where = f"{event.run_path}/{event.node}" if event.run_path else event.node
    if isinstance(event, NodeStarted):
        return f"node {where} started"
    if isinstance(event, NodeFinished):
        return f"node {where} finished"
    return f"node {where} failed: {event.message}"
