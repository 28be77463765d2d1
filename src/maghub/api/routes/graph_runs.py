"""Running graphs (MAG reference "执行图"): ``POST /graphs/execute`` (SSE), a run's state, cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from maghub.api.deps import RuntimeDep
from maghub.api.owners import UserIdField, UserIdQuery, owner
from maghub.api.schemas.graphs import RunCancelled
from maghub.api.schemas.graphs import RunView as RunViewBody
from maghub.api.security import TokenUser
from maghub.api.sse import documented_stream, error_payload, event_stream, tool_progress_payload
from maghub.graphs.running.events import (
    NodeChunk,
    NodeFailed,
    NodeFinished,
    NodeNotice,
    NodeQueued,
    NodeStarted,
    NodeToolProgress,
    NodeToolResult,
    RunEvent,
    RunFinished,
    RunStarted,
)
from maghub.graphs.running.ordering import per_node_blocks
from maghub.graphs.running.runs import ExecuteRequest, LiveRun, NodeSummary, RunView
from maghub.graphs.running.state import RunStatus
from maghub.states import RoundStatus
from maghub.timestamps import iso_utc

router = APIRouter(tags=["graph runs"])


class ExecuteBody(BaseModel):
    graph_name: str | None = None
    input_text: str | None = Field(None, max_length=1_000_000)
    conversation_id: str | None = Field(None, max_length=200, description="Continue this run (a new turn or a resume)")
    continue_from_checkpoint: bool = Field(
        False, description="Resume the interrupted turn; finished nodes do not rerun"
    )
    background: bool = Field(False, description="Keep running when the client disconnects")
    stream_mode: Literal["blocks", "interleaved"] = Field(
        "blocks", description="blocks: each node's events together, in start order; interleaved: as they happen"
    )
    user_id: str = UserIdField


RUN_EVENTS = """The original MAG's graph events; every node event has `node_name` (and `run_path` inside a subgraph):
- `{"type": "conversation_created", "conversation_id"}` first, for a new run (then `start`'s `node_start`/`node_end`);
- `{"type": "node_start", "node_name", "level"}` when a node starts;
- the node's model output as OpenAI `chat.completion.chunk` objects, and its tool results as tool messages
  `{"role": "tool", "tool_call_id", "content"}`, each with `node_name`;
- `{"type": "node_queued", "model", "limit", "node_name"}` when the node's next model call waits for one of the
  model's `max_concurrency` slots (`limit` calls to `model` are in flight on this server);
- `{"type": "notice", "message", "node_name"}`;
- `{"type": "tool_progress", "node_name", "tool_call_id", "server", "tool", "progress", "total"?, "message"?}`: a
  progress notification of a tool call still running;
- `{"type": "node_end", "node_name"}` when a node ends (`"status": "failed"` after its
  `{"error": {"message", "type": "execution_error"}, "node_name"}`);
- at the end `{"type": "graph_complete", "final_result", "execution_chain"}`, or, when the run failed or was
  cancelled, `{"error": {"message", "type": "execution_error"}, "run_status"}`.

`stream_mode: "blocks"` (default) sends each node's events together, in start order; `"interleaved"` as they happen."""


def _tagged(payload: dict[str, Any], node: str, run_path: str) -> dict[str, Any]:
    tagged = {**payload, "node_name": node}
    if run_path:
        tagged["run_path"] = run_path
    return tagged


def run_payloads(event: RunEvent) -> Iterable[dict[str, Any]]:
    """The original MAG's graph events (reference §6), each with ``node_name`` (SPEC §7)."""
    if isinstance(event, RunStarted):
        if not event.created:
            return ()
        return (
            {"type": "conversation_created", "conversation_id": event.conversation_id},
            {"type": "node_start", "node_name": "start", "level": 0},
            {"type": "node_end", "node_name": "start"},
        )
    if isinstance(event, NodeStarted):
        return (_tagged({"type": "node_start", "level": event.level}, event.node, event.run_path),)
    if isinstance(event, NodeQueued):
        return (
            _tagged({"type": "node_queued", "model": event.model, "limit": event.limit}, event.node, event.run_path),
        )
    if isinstance(event, NodeChunk):
        return (_tagged(event.chunk, event.node, event.run_path),)
    if isinstance(event, NodeToolResult):
        return (_tagged(event.message, event.node, event.run_path),)
    if isinstance(event, NodeToolProgress):
        return (_tagged(tool_progress_payload(event.progress), event.node, event.run_path),)
    if isinstance(event, NodeNotice):
        return (_tagged({"type": "notice", "message": event.message}, event.node, event.run_path),)
    if isinstance(event, NodeFinished):
        return (_tagged({"type": "node_end"}, event.node, event.run_path),)
    if isinstance(event, NodeFailed):
        return (
            _tagged(error_payload(event.message, "execution_error"), event.node, event.run_path),
            _tagged({"type": "node_end", "status": RoundStatus.FAILED}, event.node, event.run_path),
        )
    if isinstance(event, RunFinished):
        if event.status == RunStatus.COMPLETED:
            return (
                {
                    "type": "graph_complete",
                    "final_result": event.final_result,
                    "execution_chain": event.execution_chain,
                },
            )
        message = f"the run {event.status}: {event.error}" if event.error else f"the run {event.status}"
        return ({**error_payload(message, "execution_error"), "run_status": event.status},)
    return ()


async def _followed(live: LiveRun, blocks: bool) -> AsyncIterator[RunEvent]:
    """The run's events for this client; when the client leaves, the run is cancelled unless it
    runs in the background."""
    finished = False
    try:
        events = per_node_blocks(live.events()) if blocks else live.events()
        async for event in events:
            yield event
        finished = True
    finally:
        if not finished:
            if live.background:
                live.stop_listening()
            else:
                live.stop(RunStatus.CANCELLED, "the client disconnected")


@router.post(
    "/graphs/execute",
    summary="Run a graph, continue a conversation's run, or resume it (SSE)",
    responses=documented_stream(RUN_EVENTS),
)
async def execute(body: ExecuteBody, runtime: RuntimeDep, user: TokenUser) -> Any:
    request = ExecuteRequest(
        graph_name=body.graph_name,
        input_text=body.input_text,
        user_id=owner(runtime, user, body.user_id),
        conversation_id=body.conversation_id,
        continue_from_checkpoint=body.continue_from_checkpoint,
    )
    live = await runtime.runs.start(request, background=body.background)
    return event_stream(
        _followed(live, body.stream_mode == "blocks"),
        run_payloads,
        keep_alive_seconds=runtime.settings.sse_keepalive_seconds,
    )


def run_view_json(view: RunView) -> dict[str, Any]:
    return {
        "conversation_id": view.conversation_id,
        "graph_name": view.graph_name,
        "status": view.status,
        "turn": view.turn,
        "error": view.error,
        "final_result": view.final_result,
        "execution_chain": view.execution_chain,
        "nodes": {name: _node_json(node) for name, node in view.nodes.items()},
        "handoffs_status": (
            None if view.handoffs is None else {name: asdict(budget) for name, budget in view.handoffs.items()}
        ),
        "saved_files": view.saved_files,
        "round_count": view.round_count,
        "created_at": iso_utc(view.created_at),
        "updated_at": iso_utc(view.updated_at),
    }


def _node_json(node: NodeSummary) -> dict[str, Any]:
    shown: dict[str, Any] = {"status": node.status, "runs": node.runs}
    if node.output is not None:
        shown["output"] = node.output
    return shown


@router.get(
    "/graphs/runs/{conversation_id}",
    summary="A graph run's state: status, nodes, result, files",
    response_model=RunViewBody,
)
async def get_run(conversation_id: str, runtime: RuntimeDep, user: TokenUser, user_id: str = UserIdQuery) -> Any:
    return run_view_json(await runtime.runs.view(conversation_id, owner(runtime, user, user_id)))


@router.post(
    "/graphs/runs/{conversation_id}/cancel",
    summary="Stop a run (within a second)",
    response_model=RunCancelled,
)
async def cancel_run(conversation_id: str, runtime: RuntimeDep, user: TokenUser, user_id: str = UserIdQuery) -> Any:
    outcome = await runtime.runs.cancel(conversation_id, owner(runtime, user, user_id))
    return {
        "status": "success",
        "conversation_id": conversation_id,
        "cancelled": outcome.cancelled,
        "run_status": outcome.run_status,
        "message": "the run was cancelled" if outcome.cancelled else "no run of this conversation is in progress",
    }
