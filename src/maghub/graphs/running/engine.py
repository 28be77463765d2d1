"""One turn of a graph run: every node that is ready runs at once (bounded), as a dataflow
(SPEC §6). Nodes run the chat agent loop; each step is stored as it happens and reported as an
event; a turn interrupted anywhere can be resumed without re-running finished nodes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio

from maghub.agent import (
    AgentFailed,
    AgentFinished,
    AssistantTurn,
    LLMChunk,
    LLMQueued,
    ToolCallProgress,
    ToolResult,
    TransferTarget,
    offer_tools,
)
from maghub.agent import run_agent as run_agent_loop
from maghub.agent.recording import RoundRecorder
from maghub.errors import MaghubError, NotFoundError
from maghub.graphs.definition.compile import RUN_INPUT, CompiledGraph, CompiledNode, NodeKind
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
)
from maghub.graphs.running.prompting import joined_input, node_messages, node_values
from maghub.graphs.running.results import execution_chain, scope_result
from maghub.graphs.running.run_store import RunStore, StoredRound
from maghub.graphs.running.scheduler import NodeStatus, Scheduler
from maghub.graphs.running.state import START_NODE, NodeEnd, NodeRound, RoundKind, RunStatus
from maghub.llm.registry import ModelRegistry
from maghub.mcp.connections.manager import MCPManager
from maghub.observability.seams import node_observed, node_slot
from maghub.paths import conversation_files_dir, safe_component
from maghub.states import RoundStatus
from maghub.usage import Usage

log = logging.getLogger(__name__)

DEFAULT_MAX_PARALLEL_NODES = 64
"""Nodes of one run at once unless the graph or the server says otherwise (SPEC §6). High on purpose:
the real guard against overload is each model's ``max_concurrency``."""
DEFAULT_MAX_NODE_RUNS = 200


class NodeError(Exception):
    """A node could not finish (its model failed, its model is gone); the run stops, resumable.

    Not a :class:`~maghub.errors.MaghubError`: it never leaves the run (see ``maghub.errors``)."""


@dataclass(frozen=True)
class EngineServices:
    store: RunStore
    models: ModelRegistry
    mcp: MCPManager
    data_dir: Path
    max_parallel_nodes: int = DEFAULT_MAX_PARALLEL_NODES
    """The server's limit (``MAGHUB_MAX_PARALLEL_NODES``): a graph's own may only lower it."""
    max_node_runs: int = DEFAULT_MAX_NODE_RUNS

    def parallel_limit(self, graph: CompiledGraph) -> int:
        """How many of ``graph``'s nodes one run may run at once."""
        own = graph.config.max_parallel_nodes
        return self.max_parallel_nodes if own is None else min(own, self.max_parallel_nodes)


@dataclass(frozen=True, slots=True)
class HandoffBudget:
    """A router node's handoffs in the running turn."""

    total_limit: int
    used_count: int
    last_selection: str | None
    """The node it handed off to last."""


@dataclass(frozen=True)
class _Outcome:
    name: str
    transfer: str | None = None
    error: str | None = None


class _NodeRound:
    """The stored round of one node execution, written as the node runs (see :class:`RoundRecorder`)."""

    def __init__(
        self,
        store: RunStore,
        conversation_id: str,
        number: int,
        node: NodeRound,
        messages: list[dict[str, Any]],
    ) -> None:
        self._store = store
        opening = asyncio.create_task(store.begin_node(conversation_id, number, node, messages))
        self._recorder = RoundRecorder(opening, store.append)

    async def store(self, event: AssistantTurn | ToolResult) -> None:
        await self._recorder.record(event)

    async def end(self, status: RoundStatus, node: NodeRound, error: str | None = None) -> None:
        answer = self._recorder.take_answer()
        last, usage = (answer.stored_message, answer.usage or Usage()) if answer else (None, None)
        await self._store.end_node(await self._recorder.opened(), status, node, error, last=last, usage=usage)


class GraphTurn:
    """Runs the current turn of conversation ``conversation_id`` on ``graph``."""

    def __init__(
        self,
        services: EngineServices,
        graph: CompiledGraph,
        conversation_id: str,
        *,
        turn: int,
        input_text: str,
        next_round: int,
        global_outputs: dict[str, list[str]],
        emit: Callable[[RunEvent], None],
    ) -> None:
        self._services = services
        self.graph = graph
        self.conversation_id = conversation_id
        self.turn = turn
        self.input_text = input_text
        self.scheduler = Scheduler(graph)
        self.outputs: dict[str, list[str]] = {}
        self.global_outputs = global_outputs
        self.executions: list[tuple[str, int]] = [(START_NODE, 0)]
        self.saved_files: list[str] = []
        self._emit = emit
        self._rounds = itertools.count(next_round)
        self._execution_ids = itertools.count(1)
        self._finished_order = itertools.count(1)
        self._node_runs = 0
        self._limiter = anyio.Semaphore(services.parallel_limit(graph))
        self._last_selection: dict[str, str] = {}

    # --- state ---------------------------------------------------------------------------------------

    def latest(self, name: str) -> str | None:
        if name == RUN_INPUT:
            return self.input_text
        outputs = self.outputs.get(name)
        return outputs[-1] if outputs else None

    def history(self, name: str) -> list[str]:
        return self.global_outputs.get(name) or self.outputs.get(name, [])

    def ran(self, name: str) -> bool:
        return self.scheduler.status(name) == NodeStatus.DONE

    def final_result(self) -> str:
        return scope_result(self.graph.scopes[""], self.latest, self.ran, self.history)

    def chain(self) -> list[list[str]]:
        return execution_chain(self.executions)

    def handoff_budgets(self) -> dict[str, HandoffBudget]:
        return {
            node.name: HandoffBudget(
                node.handoffs, self.scheduler.nodes[node.name].handoffs_used, self._last_selection.get(node.name)
            )
            for node in self.graph.nodes.values()
            if node.handoffs is not None
        }

    def replay(self, rounds: list[StoredRound]) -> None:
        """Rebuild the turn's state from its finished node rounds (in the order they finished)."""
        ends = sorted(
            (
                (stored.node.node_name, stored.node.end)
                for stored in rounds
                if stored.status == RoundStatus.COMPLETED and not stored.node.is_start and stored.node.end is not None
            ),
            key=lambda named: named[1].finished,
        )
        for name, end in ends:
            if name not in self.graph.nodes or name not in self.scheduler.ready():
                continue  # the graph changed since, or the record does not fit: the node runs again
            self.scheduler.start(name)
            # Its global output was loaded with the others; only the turn's own state is rebuilt.
            self._record(name, end.output, end.transfer, replayed=True)
            self.scheduler.finished(name, end.transfer)
            self._node_runs += 1
            self.executions.append((name, self.graph.nodes[name].level))
        # New ends sort after every stored one, so a later resume replays them in the right order.
        self._finished_order = itertools.count(max((end.finished for _name, end in ends), default=0) + 1)

    # --- running -------------------------------------------------------------------------------------

    async def run(self) -> RunFinished:
        """Run until no node is ready or running. Raises ``CancelledError`` when cancelled (rounds in
        flight are stored as interrupted first)."""
        outcomes: asyncio.Queue[_Outcome] = asyncio.Queue()
        running = 0
        error: str | None = None
        async with anyio.create_task_group() as nodes:
            while True:
                for name in self.scheduler.ready():
                    if self._node_runs >= self._services.max_node_runs:
                        error = (
                            f"the run stopped after {self._services.max_node_runs} node executions; "
                            "a loop probably never ends: lower the router's handoffs"
                        )
                        break
                    self._node_runs += 1
                    self.scheduler.start(name)
                    running += 1
                    nodes.start_soon(self._execute, name, outcomes)
                if error is not None or running == 0:
                    break
                outcome = await outcomes.get()
                running -= 1
                if outcome.error is not None:
                    error = outcome.error
                    break
                self.scheduler.finished(outcome.name, outcome.transfer)
            nodes.cancel_scope.cancel()  # after a failure: stop the other nodes (stored as interrupted)
        if error is not None:
            return RunFinished(RunStatus.FAILED, "", self.chain(), error)
        return RunFinished(RunStatus.COMPLETED, self.final_result(), self.chain())

    async def _execute(self, name: str, outcomes: asyncio.Queue[_Outcome]) -> None:
        node = self.graph.nodes[name]

        def finished(output: str, transfer: str | None) -> None:
            self._record(name, output, transfer)
            outcomes.put_nowait(_Outcome(name, transfer))

        try:
            async with node_slot(self._limiter):
                with node_observed(self.graph.name, name):
                    if node.kind == NodeKind.AGENT:
                        await self._run_agent_node(node, finished)
                    else:
                        finished(await self._pass_through(node), None)
        except NodeError as exc:
            outcomes.put_nowait(_Outcome(name, error=f"node '{name}': {exc}"))

    def _record(self, name: str, output: str, transfer: str | None, *, replayed: bool = False) -> None:
        node = self.graph.nodes[name]
        self.outputs.setdefault(name, []).append(output)
        if not replayed and node.config.global_output and output and node.kind != NodeKind.SUBGRAPH_INPUT:
            self.global_outputs.setdefault(name, []).append(output)
        if transfer:
            self._last_selection[name] = transfer

    async def _pass_through(self, node: CompiledNode) -> str:
        if node.kind == NodeKind.SUBGRAPH_INPUT:
            output = joined_input(node_values(node, self.latest, self.global_outputs))
        else:
            assert node.inner_scope is not None
            output = scope_result(self.graph.scopes[node.inner_scope], self.latest, self.ran, self.history)
        stored = self._node_round(node).ended(self._node_end(output, None))
        await self._services.store.record_node(self.conversation_id, next(self._rounds), stored)
        return output

    async def _run_agent_node(self, node: CompiledNode, finished: Callable[[str, str | None], None]) -> None:
        """Run the node; ``finished`` gets its output as soon as it is known, before its round's end is
        stored, so that the nodes it feeds start while that is written (their LLM calls need not wait
        for the database; a resume runs a node again whose end was not stored)."""
        services = self._services
        execution = next(self._execution_ids)
        messages = node_messages(self.graph, node, node_values(node, self.latest, self.global_outputs))
        began = self._node_round(node)
        self.executions.append((node.name, node.level))
        self._emit(NodeStarted(execution, node.name, node.level, node.scope))
        stored = _NodeRound(services.store, self.conversation_id, next(self._rounds), began, messages)
        status = RoundStatus.INTERRUPTED
        error: str | None = "the run was cancelled while this node ran"
        try:
            output, transfer = await self._agent_loop(node, execution, messages, stored)
            end = self._node_end(output, transfer)
            end = dataclasses.replace(end, saved_file=await self._save(node, output))
            status, error = RoundStatus.COMPLETED, None
        except NodeError as exc:
            status, error = RoundStatus.FAILED, str(exc)
            self._emit(NodeFailed(execution, node.name, node.scope, str(exc)))
            raise
        finally:
            if status != RoundStatus.COMPLETED:
                if status == RoundStatus.INTERRUPTED:  # cancelled: the node's block still ends, for clients
                    self._emit(NodeFailed(execution, node.name, node.scope, error or "interrupted"))
                with anyio.CancelScope(shield=True):
                    await stored.end(status, began, error)
        self._emit(NodeFinished(execution, node.name, node.scope, output, transfer))
        finished(output, transfer)
        with anyio.CancelScope(shield=True):  # the node's work is done: a run stopped now still keeps it
            await stored.end(status, began.ended(end))

    async def _agent_loop(
        self, node: CompiledNode, execution: int, messages: list[dict[str, Any]], stored: _NodeRound
    ) -> tuple[str, str | None]:
        services = self._services
        model = node.config.model_name or ""
        try:
            llm = await services.models.client(model)
        except NotFoundError as exc:  # the model was deleted after the run started
            raise NodeError(str(exc)) from exc
        servers = list(node.config.mcp_servers)
        tools = None
        if servers:
            try:
                tools, notices = await offer_tools(services.mcp, servers)
            except MaghubError as exc:  # a server removed after the run started
                raise NodeError(str(exc)) from exc
            for notice in notices:
                self._emit(NodeNotice(execution, node.name, node.scope, notice))
        transfers = (
            [TransferTarget(t.name, f"Transfer to {t.name}. {t.description}".strip()) for t in node.handoff_targets]
            if self.scheduler.transfers_left(node)
            else []
        )
        async with aclosing(run_agent_loop(llm, messages, tools=tools, transfers=transfers)) as events:
            async for event in events:
                if isinstance(event, LLMChunk):
                    self._emit(NodeChunk(execution, node.name, node.scope, event.chunk, event.content))
                elif isinstance(event, LLMQueued):
                    self._emit(NodeQueued(execution, node.name, node.scope, event.model, event.limit))
                elif isinstance(event, AssistantTurn):
                    await stored.store(event)
                elif isinstance(event, ToolCallProgress):
                    self._emit(NodeToolProgress(execution, node.name, node.scope, event))
                elif isinstance(event, ToolResult):
                    await stored.store(event)
                    self._emit(NodeToolResult(execution, node.name, node.scope, event.message))
                elif isinstance(event, AgentFailed):
                    raise NodeError(event.message)
                elif isinstance(event, AgentFinished):
                    output = event.output if node.config.output_enabled else event.tool_output
                    return output, event.transfer.target if event.transfer else None
        raise NodeError("the agent loop ended without a result")

    def _node_round(self, node: CompiledNode) -> NodeRound:
        return NodeRound(
            node_name=node.name,
            level=node.level,
            turn=self.turn,
            kind=RoundKind.of(node.kind),
            run_path=node.scope,
            pass_number=self.scheduler.nodes[node.name].runs,
            output_enabled=node.config.output_enabled,
            mcp_servers=tuple(node.config.mcp_servers),
        )

    def _node_end(self, output: str, transfer: str | None) -> NodeEnd:
        return NodeEnd(output, transfer, next(self._finished_order))

    async def _save(self, node: CompiledNode, output: str) -> str | None:
        """``save: "md"``: the output as a file in the conversation's folder (safe generated name)."""
        extension = node.config.save
        if not extension or not output.strip():
            return None
        folder = conversation_files_dir(self._services.data_dir, self.conversation_id)
        stamp = datetime.now().strftime("%Y%m%d_%H%M%S_%f")
        path = folder / f"{safe_component(node.name, max_chars=40)}_{stamp}.{extension}"

        def write() -> None:
            folder.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(path.suffix + ".tmp")
            temporary.write_text(output, encoding="utf-8")
            temporary.replace(path)

        await anyio.to_thread.run_sync(write)
        relative = str(path.relative_to(self._services.data_dir))
        self.saved_files.append(relative)
        return relative
