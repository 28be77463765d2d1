"""Graph runs as the server holds them: started, resumed, cancelled, watched (SPEC §6).

A run is a task of its own, not of the request that started it: a client that goes away cancels it
unless it asked for ``background``, and ``POST /graphs/runs/{id}/cancel`` stops it from anywhere.
One run at a time per conversation (in this process).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Self

import anyio
import anyio.abc

from maghub.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from maghub.graphs.definition.compile import RUN_INPUT, CompiledGraph
from maghub.graphs.running.engine import EngineServices, GraphTurn
from maghub.graphs.running.events import RunEvent, RunFinished, RunStarted
from maghub.graphs.definition.registry import GraphRegistry
from maghub.graphs.running.run_store import START_NODE, StoredRun
from maghub.graphs.definition.validation import GraphValidationError
from maghub.observability.seams import run_observed
from maghub.service.lifecycle import ActivityTracker
from maghub.timestamps import iso_utc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExecuteRequest:
    graph_name: str | None
    input_text: str | None
    user_id: str
    conversation_id: str | None = None
    continue_from_checkpoint: bool = False


@dataclass
class _Conversation:
    """What starting a turn needs to know of its conversation."""

    id: str
    user_id: str
    round_count: int

    @property
    def next_round(self) -> int:
        return self.round_count + 1


@dataclass
class LiveRun:
    conversation_id: str
    user_id: str
    graph_name: str
    turn: GraphTurn
    background: bool = False
    stop_status: str = "cancelled"
    stop_reason: str = "cancelled"
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    _queue: asyncio.Queue[RunEvent | None] = field(default_factory=asyncio.Queue)
    _listening: bool = True

    def publish(self, event: RunEvent | None) -> None:
        if self._listening or event is None:
            self._queue.put_nowait(event)

    def stop(self, status: str, reason: str) -> None:
        self.stop_status, self.stop_reason = status, reason
        self.scope.cancel()

    def stop_listening(self) -> None:
        """Nobody reads the events any more (a background run whose client left)."""
        self._listening = False
        while not self._queue.empty():
            self._queue.get_nowait()

    async def events(self) -> AsyncIterator[RunEvent]:
        while (event := await self._queue.get()) is not None:
            yield event


class RunManager:
    def __init__(self, services: EngineServices, graphs: GraphRegistry, activity: ActivityTracker) -> None:
        self._services = services
        self._graphs = graphs
        self._activity = activity
        self._live: dict[str, LiveRun] = {}
        self._starting: set[str] = set()
        self._task_group: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> Self:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        for live in list(self._live.values()):
            live.stop("interrupted", "maghub shut down while the run was in progress; resume it")
        assert self._task_group is not None
        await self._task_group.__aexit__(None, None, None)

    # --- starting ------------------------------------------------------------------------------------

    async def start(self, request: ExecuteRequest, *, background: bool = False) -> LiveRun:
        """Check everything, store the turn's start and launch it. Raises before anything runs."""
        self._activity.check_open()
        if request.conversation_id is None:
            return await self._new_run(request, background)
        stored = await self._owned(request.conversation_id, request.user_id, forbid=True)
        if request.conversation_id in self._live or request.conversation_id in self._starting:
            raise ConflictError(
                f"A run of conversation '{request.conversation_id}' is in progress; wait for it or cancel it "
                f"with POST /graphs/runs/{request.conversation_id}/cancel."
            )
        self._starting.add(request.conversation_id)  # until launched: a second start meanwhile is refused
        try:
            return await self._continue(request, stored, background)
        finally:
            self._starting.discard(request.conversation_id)

    async def _continue(self, request: ExecuteRequest, stored: StoredRun, background: bool) -> LiveRun:
        """A new turn of a stored run, or the resume of its current turn."""
        store = self._services.store
        graph_name = stored.details.get("graph_name", "")
        if request.graph_name and request.graph_name != graph_name:
            raise InvalidInputError(
                f"Conversation '{request.conversation_id}' runs graph '{graph_name}', not '{request.graph_name}'."
            )
        graph = await self._compile(graph_name)
        input_text = (request.input_text or "").strip()
        conversation = _Conversation(
            stored.conversation.id, stored.conversation.user_id, stored.conversation.round_count
        )
        global_outputs = _global_outputs(graph, stored)
        if stored.details.get("run_status") == "running":  # its process died: nothing runs it any more
            # Only rounds left running change; the completed ones a resume replays stay as loaded.
            await store.mark_interrupted(conversation.id, "maghub stopped while the run was in progress")
        if request.continue_from_checkpoint or not input_text:
            if stored.details.get("run_status") == "completed":
                raise ConflictError(
                    f"The run of conversation '{request.conversation_id}' has completed: nothing to resume. "
                    "Send input_text to start a new turn."
                )
            live = self._turn(graph, conversation, stored.turn, self._turn_input(stored), global_outputs, background)
            live.turn.replay(stored.turn_rounds())
            await store.finish(conversation.id, "running", None, live.turn.chain(), None)
            return self._launch(live, created=False)
        await store.start_turn(conversation.id, stored.turn + 1, conversation.next_round, input_text)
        global_outputs.setdefault(RUN_INPUT, []).append(input_text)  # what the start round just stored
        conversation.round_count += 1
        live = self._turn(graph, conversation, stored.turn + 1, input_text, global_outputs, background)
        return self._launch(live, created=False)

    async def _new_run(self, request: ExecuteRequest, background: bool) -> LiveRun:
        if not request.graph_name:
            raise InvalidInputError("graph_name is empty: name the graph to run (GET /graphs lists them).")
        input_text = (request.input_text or "").strip()
        if not input_text:
            raise InvalidInputError("input_text is empty: send what the graph should work on.")
        graph = await self._compile(request.graph_name)
        conversation_id = f"{request.graph_name}_{int(time.time() * 1e6)}_{uuid.uuid4().hex[:8]}"
        store = self._services.store
        await store.create(conversation_id, request.user_id, request.graph_name, input_text)
        await store.start_turn(conversation_id, 1, 1, input_text)
        conversation = _Conversation(conversation_id, request.user_id, round_count=1)
        live = self._turn(graph, conversation, 1, input_text, {RUN_INPUT: [input_text]}, background)
        return self._launch(live, created=True)

    async def _compile(self, graph_name: str) -> CompiledGraph:
        graph = await self._graphs.load_for_run(graph_name)
        models = await self._services.models.names()
        servers = {config.name for config in self._services.mcp.configs()}
        problems = graph.unknown_references(models, servers)
        if problems:
            raise GraphValidationError(graph_name, problems)
        return graph

    def _turn(
        self,
        graph: CompiledGraph,
        conversation: _Conversation,
        turn: int,
        input_text: str,
        global_outputs: dict[str, list[str]],
        background: bool,
    ) -> LiveRun:
        live_holder: list[LiveRun] = []
        turn_runner = GraphTurn(
            self._services,
            graph,
            conversation.id,
            turn=turn,
            input_text=input_text,
            next_round=conversation.next_round,
            global_outputs=global_outputs,
            emit=lambda event: live_holder[0].publish(event),
        )
        live = LiveRun(conversation.id, conversation.user_id, graph.name, turn_runner, background)
        live_holder.append(live)
        return live

    @staticmethod
    def _turn_input(stored: StoredRun) -> str:
        starts = [r for r in stored.turn_rounds() if r.details.get("kind") == START_NODE and r.messages]
        return str(starts[-1].messages[0].get("content") or "") if starts else ""

    def _launch(self, live: LiveRun, *, created: bool) -> LiveRun:
        assert self._task_group is not None, "RunManager is not open"
        self._live[live.conversation_id] = live
        live.publish(RunStarted(live.conversation_id, live.graph_name, live.turn.turn, created, live.turn.input_text))
        self._task_group.start_soon(self._drive, live)
        return live

    async def _drive(self, live: LiveRun) -> None:
        turn = live.turn
        store = self._services.store
        observed = run_observed(live.graph_name, live.conversation_id, turn.turn)
        try:
            with self._activity.session("graph_run", live.conversation_id), observed as run, live.scope:
                result = await turn.run()
                run.status = result.status
            if live.scope.cancelled_caught:
                result = RunFinished(live.stop_status, "", turn.chain(), live.stop_reason)
                run.status = result.status
            with anyio.CancelScope(shield=True):
                await store.finish(
                    live.conversation_id, result.status, result.final_result, result.execution_chain, result.error
                )
            live.publish(result)
        except Exception:
            log.exception("graph run failed", extra={"conversation_id": live.conversation_id})
            with anyio.CancelScope(shield=True):
                await store.mark_interrupted(live.conversation_id, "internal error; the server log has the details")
            live.publish(RunFinished("interrupted", "", turn.chain(), "internal error; see the server log"))
        finally:
            self._live.pop(live.conversation_id, None)
            live.publish(None)

    # --- watching and stopping -----------------------------------------------------------------------

    async def cancel(self, conversation_id: str, user_id: str) -> dict[str, Any]:
        stored = await self._owned(conversation_id, user_id)
        live = self._live.get(conversation_id)
        if live is None:
            return {
                "status": "success",
                "conversation_id": conversation_id,
                "cancelled": False,
                "run_status": stored.details.get("run_status"),
                "message": "no run of this conversation is in progress",
            }
        live.stop("cancelled", "cancelled by request")
        with anyio.move_on_after(5):
            while conversation_id in self._live:
                await anyio.sleep(0.01)
        return {
            "status": "success",
            "conversation_id": conversation_id,
            "cancelled": True,
            "run_status": "cancelled",
            "message": "the run was cancelled",
        }

    async def view(self, conversation_id: str, user_id: str) -> dict[str, Any]:
        stored = await self._owned(conversation_id, user_id)
        details = stored.details
        live = self._live.get(conversation_id)
        status = details.get("run_status")
        if status == "running" and live is None:
            status = "interrupted"  # the process that ran it is gone
        rounds = stored.turn_rounds()
        nodes: dict[str, dict[str, Any]] = {}
        for stored_round in rounds:
            name = stored_round.details.get("node_name")
            if not name or stored_round.details.get("kind") == START_NODE:
                continue
            entry = nodes.setdefault(name, {"runs": 0})
            entry.update(status=stored_round.status, runs=entry["runs"] + 1)
            if "output" in stored_round.details:
                entry["output"] = stored_round.details["output"]
        files = [r.details["saved_file"] for r in stored.rounds if r.details.get("saved_file")]
        return {
            "conversation_id": conversation_id,
            "graph_name": details.get("graph_name"),
            "status": status,
            "turn": stored.turn,
            "error": details.get("error"),
            "final_result": details.get("final_result"),
            "execution_chain": live.turn.chain() if live else details.get("execution_chain", []),
            "nodes": nodes,
            "handoffs_status": live.turn.handoffs_status() if live else None,
            "saved_files": files,
            "round_count": stored.conversation.round_count,
            "created_at": iso_utc(stored.conversation.created_at),
            "updated_at": iso_utc(stored.conversation.updated_at),
        }

    def live(self, conversation_id: str) -> LiveRun | None:
        return self._live.get(conversation_id)

    async def _owned(self, conversation_id: str, user_id: str, *, forbid: bool = False) -> StoredRun:
        stored = await self._services.store.load(conversation_id)
        if stored is None or stored.conversation.type != "graph":
            raise NotFoundError(f"There is no graph run '{conversation_id}'.")
        if stored.conversation.user_id != user_id:
            if forbid:
                raise ForbiddenError(f"Graph run '{conversation_id}' belongs to another user.")
            raise NotFoundError(f"There is no graph run '{conversation_id}'.")
        return stored


def _global_outputs(graph: CompiledGraph, stored: StoredRun) -> dict[str, list[str]]:
    """Kept across turns (SPEC §6 Outputs): every input, and every output of ``global_output`` nodes."""
    outputs: dict[str, list[str]] = {}
    for stored_round in stored.rounds:
        details = stored_round.details
        if details.get("kind") == START_NODE and stored_round.messages:
            outputs.setdefault(RUN_INPUT, []).append(str(stored_round.messages[0].get("content") or ""))
            continue
        node = graph.nodes.get(details.get("node_name", ""))
        output = details.get("output")
        if node is not None and node.config.global_output and output and stored_round.status == "completed":
            if details.get("kind") != "subgraph_input":
                outputs.setdefault(node.name, []).append(output)
    return outputs
