"""Graph runs as the server holds them: started, resumed, cancelled, watched (SPEC §6).

A run is a task of its own, not of the request that started it: a client that goes away cancels it
unless it asked for ``background``, and ``POST /graphs/runs/{id}/cancel`` stops it from anywhere.
One run at a time per conversation (in this process).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Self

import anyio
import anyio.abc

from maghub.errors import ConflictError, InvalidInputError, NotFoundError
from maghub.graphs.definition.compile import RUN_INPUT, CompiledGraph
from maghub.graphs.definition.registry import GraphRegistry
from maghub.graphs.definition.validation import GraphValidationError
from maghub.graphs.running.engine import EngineServices, GraphTurn, HandoffBudget
from maghub.graphs.running.events import RunEvent, RunFinished, RunStarted
from maghub.graphs.running.run_store import StoredRun
from maghub.graphs.running.state import RoundKind, RunStatus
from maghub.observability.seams import run_observed
from maghub.service.lifecycle import ActivityTracker
from maghub.states import RoundStatus

log = logging.getLogger(__name__)

# A conversation_id the client chooses for a new run, like the seed's "conv_123".
CLIENT_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


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
    stop_status: RunStatus = RunStatus.CANCELLED
    stop_reason: str = "cancelled"
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    ended: anyio.Event = field(default_factory=anyio.Event)
    """Set once the run's end is stored and it is no longer live."""
    _queue: asyncio.Queue[RunEvent | None] = field(default_factory=asyncio.Queue)
    _listening: bool = True

    def publish(self, event: RunEvent | None) -> None:
        if self._listening or event is None:
            self._queue.put_nowait(event)

    def stop(self, status: RunStatus, reason: str) -> None:
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


@dataclass(frozen=True)
class NodeSummary:
    """A node in the current turn of a run, as its stored rounds show it."""

    status: RoundStatus
    """Of its last execution."""
    runs: int
    output: str | None
    """Of its last execution that completed (None: none has)."""


@dataclass(frozen=True)
class RunView:
    """A run's state (``GET /graphs/runs/{id}``)."""

    conversation_id: str
    graph_name: str
    status: RunStatus
    turn: int
    error: str | None
    final_result: str | None
    execution_chain: list[list[str]]
    nodes: dict[str, NodeSummary]
    handoffs: dict[str, HandoffBudget] | None
    """Of the routers in the running turn (None: no turn runs)."""
    saved_files: list[str]
    """Every file the run's nodes saved, in all turns."""
    round_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class CancelOutcome:
    cancelled: bool
    """False: no run of the conversation was in progress."""
    run_status: RunStatus


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

    async def __aexit__(self, *exc_info: object) -> None:
        for live in list(self._live.values()):
            live.stop(RunStatus.INTERRUPTED, "maghub shut down while the run was in progress; resume it")
        assert self._task_group is not None
        await self._task_group.__aexit__(None, None, None)

    # --- starting ------------------------------------------------------------------------------------

    async def start(self, request: ExecuteRequest, *, background: bool = False) -> LiveRun:
        """Check everything, store the turn's start and launch it. Raises before anything runs."""
        self._activity.check_open()
        conversation_id = request.conversation_id
        if conversation_id is None:
            generated = f"{request.graph_name}_{int(time.time() * 1e6)}_{uuid.uuid4().hex[:8]}"
            return await self._new_run(request, background, generated)
        stored = await self._services.store.load(conversation_id)
        if stored is not None and stored.user_id != request.user_id:
            raise NotFoundError(f"There is no graph run '{conversation_id}' of user '{request.user_id}'.")
        if stored is None and request.continue_from_checkpoint:
            raise NotFoundError(f"There is no graph run '{conversation_id}' to resume.")
        if stored is None:
            await self._check_id_is_free(conversation_id, request.user_id)
        if stored is None and not CLIENT_RUN_ID.match(conversation_id):
            raise InvalidInputError(
                f"There is no run '{conversation_id}' to continue, and it cannot name a new one: a new run's "
                "conversation_id is 1-64 letters, digits, '_' or '-' (e.g. conv_123), or null to get one."
            )
        if conversation_id in self._live or conversation_id in self._starting:
            raise ConflictError(
                f"A run of conversation '{conversation_id}' is in progress; wait for it or cancel it "
                f"with POST /graphs/runs/{conversation_id}/cancel."
            )
        self._starting.add(conversation_id)  # until launched: a second start meanwhile is refused
        try:
            if stored is None:  # a client-chosen id, as the seed's example sends: a new run under it
                return await self._new_run(request, background, conversation_id)
            return await self._continue(request, stored, background)
        finally:
            self._starting.discard(conversation_id)

    async def _continue(self, request: ExecuteRequest, stored: StoredRun, background: bool) -> LiveRun:
        """A new turn of a stored run, or the resume of its current turn."""
        store = self._services.store
        graph_name = stored.state.graph_name
        if request.graph_name and request.graph_name != graph_name:
            raise InvalidInputError(
                f"Conversation '{request.conversation_id}' runs graph '{graph_name}', not '{request.graph_name}'."
            )
        graph = await self._compile(graph_name)
        input_text = (request.input_text or "").strip()
        conversation = _Conversation(stored.id, stored.user_id, stored.round_count)
        global_outputs = _global_outputs(graph, stored)
        if stored.state.status == RunStatus.RUNNING:  # its process died: nothing runs it any more
            # Only rounds left running change; the completed ones a resume replays stay as loaded.
            await store.mark_interrupted(conversation.id, "maghub stopped while the run was in progress")
        if request.continue_from_checkpoint or not input_text:
            if stored.state.status == RunStatus.COMPLETED:
                raise ConflictError(
                    f"The run of conversation '{request.conversation_id}' has completed: nothing to resume. "
                    "Send input_text to start a new turn."
                )
            live = self._turn(graph, conversation, stored.turn, self._turn_input(stored), global_outputs, background)
            live.turn.replay(stored.turn_rounds())
            await store.finish(conversation.id, RunStatus.RUNNING, None, live.turn.chain(), None)
            return self._launch(live, created=False)
        await store.start_turn(conversation.id, stored.turn + 1, conversation.next_round, input_text)
        global_outputs.setdefault(RUN_INPUT, []).append(input_text)  # what the start round just stored
        conversation.round_count += 1
        live = self._turn(graph, conversation, stored.turn + 1, input_text, global_outputs, background)
        return self._launch(live, created=False)

    async def _check_id_is_free(self, conversation_id: str, user_id: str) -> None:
        """A new run's id must not be another conversation's (a chat, a design session)."""
        taken = await self._services.store.kind_of(conversation_id)
        if taken is None:
            return
        kind, owner = taken
        if owner == user_id:
            raise ConflictError(
                f"'{conversation_id}' is the id of a {kind} conversation, not of a graph run; "
                "choose another conversation_id, or send null to get one."
            )
        raise ConflictError(f"Conversation id '{conversation_id}' is taken; choose another, or send null to get one.")

    async def _new_run(self, request: ExecuteRequest, background: bool, conversation_id: str) -> LiveRun:
        if not request.graph_name:
            raise InvalidInputError("graph_name is empty: name the graph to run (GET /graphs lists them).")
        input_text = (request.input_text or "").strip()
        if not input_text:
            raise InvalidInputError("input_text is empty: send what the graph should work on.")
        graph = await self._compile(request.graph_name)
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

        # The run is built after its turn, which publishes through it: looked up when the first event comes.
        def publish(event: RunEvent | None) -> None:
            live_holder[0].publish(event)

        turn_runner = GraphTurn(
            self._services,
            graph,
            conversation.id,
            turn=turn,
            input_text=input_text,
            next_round=conversation.next_round,
            global_outputs=global_outputs,
            emit=publish,
        )
        live = LiveRun(conversation.id, conversation.user_id, graph.name, turn_runner, background)
        live_holder.append(live)
        return live

    @staticmethod
    def _turn_input(stored: StoredRun) -> str:
        starts = [r for r in stored.turn_rounds() if r.node.is_start and r.messages]
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
            live.publish(RunFinished(RunStatus.INTERRUPTED, "", turn.chain(), "internal error; see the server log"))
        finally:
            self._live.pop(live.conversation_id, None)
            live.ended.set()
            live.publish(None)

    # --- watching and stopping -----------------------------------------------------------------------

    async def cancel(self, conversation_id: str, user_id: str) -> CancelOutcome:
        """Stop the conversation's run, if one is in progress; returns once its end is stored (at most
        a few seconds)."""
        stored = await self._owned(conversation_id, user_id)
        live = self._live.get(conversation_id)
        if live is None:
            return CancelOutcome(cancelled=False, run_status=stored.state.status)
        live.stop(RunStatus.CANCELLED, "cancelled by request")
        with anyio.move_on_after(5):
            await live.ended.wait()
        return CancelOutcome(cancelled=True, run_status=RunStatus.CANCELLED)

    async def view(self, conversation_id: str, user_id: str) -> RunView:
        # Look for the live run before reading the store: a run that ends during the read has stored its
        # end by then, so "running but not live" always means its process is gone (read the other way
        # round, a run that just finished was reported interrupted).
        live = self._live.get(conversation_id)
        stored = await self._owned(conversation_id, user_id)
        state = stored.state
        status = state.status
        if status == RunStatus.RUNNING and live is None:
            status = RunStatus.INTERRUPTED  # the process that ran it is gone
        nodes: dict[str, NodeSummary] = {}
        for stored_round in stored.turn_rounds():
            node = stored_round.node
            if not node.node_name or node.is_start:
                continue
            earlier = nodes.get(node.node_name)
            output = node.end.output if node.end is not None else earlier.output if earlier else None
            nodes[node.node_name] = NodeSummary(stored_round.status, (earlier.runs if earlier else 0) + 1, output)
        files = [r.node.end.saved_file for r in stored.rounds if r.node.end is not None and r.node.end.saved_file]
        return RunView(
            conversation_id=conversation_id,
            graph_name=state.graph_name,
            status=status,
            turn=stored.turn,
            error=state.error,
            final_result=state.final_result,
            execution_chain=live.turn.chain() if live else state.execution_chain,
            nodes=nodes,
            handoffs=live.turn.handoff_budgets() if live else None,
            saved_files=files,
            round_count=stored.round_count,
            created_at=stored.created_at,
            updated_at=stored.updated_at,
        )

    def live(self, conversation_id: str) -> LiveRun | None:
        return self._live.get(conversation_id)

    async def _owned(self, conversation_id: str, user_id: str) -> StoredRun:
        """The run if ``user_id`` owns it; another user's run is reported as missing (SPEC §9)."""
        stored = await self._services.store.load(conversation_id)
        if stored is None or stored.user_id != user_id:
            raise NotFoundError(f"There is no graph run '{conversation_id}' of user '{user_id}'.")
        return stored


def _global_outputs(graph: CompiledGraph, stored: StoredRun) -> dict[str, list[str]]:
    """Kept across turns (SPEC §6 Outputs): every input, and every output of ``global_output`` nodes."""
    outputs: dict[str, list[str]] = {}
    for stored_round in stored.rounds:
        node_round = stored_round.node
        if node_round.is_start and stored_round.messages:
            outputs.setdefault(RUN_INPUT, []).append(str(stored_round.messages[0].get("content") or ""))
            continue
        node = graph.nodes.get(node_round.node_name)
        end = node_round.end
        if node is None or end is None or not end.output or stored_round.status != RoundStatus.COMPLETED:
            continue
        if node.config.global_output and node_round.kind != RoundKind.SUBGRAPH_INPUT:
            outputs.setdefault(node.name, []).append(end.output)
    return outputs
