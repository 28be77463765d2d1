"""One call per event, where runs, nodes, LLM calls and tool calls start and end: each updates the
metrics and, when traces are on, opens and closes the span (run → node → LLM call / tool call, with
the OpenTelemetry GenAI semantic-convention attributes).

Each is a context manager around the work; the status is what the code inside sets on the
observation, or ``cancelled`` / ``error`` when it leaves by an exception.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import anyio

from maghub.llm.types import Usage
from maghub.observability import metrics, tracing


@dataclass(slots=True)
class Observation:
    status: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None

    def finished(self, usage: Usage | None, finish_reason: str | None) -> None:
        """An LLM call's end: the tokens when the provider reported them."""
        if usage is not None:
            self.input_tokens, self.output_tokens = usage.prompt_tokens, usage.completion_tokens
        self.finish_reason = finish_reason


def _status_of(exc: BaseException, failure: str) -> str:
    if isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
        return "cancelled"
    return failure


@contextmanager
def _observed(span: tracing.Span | None, *, current: bool, failure: str = "error") -> Iterator[Observation]:
    observation = Observation()
    try:
        with tracing.current(span) if current else _NO_CONTEXT:
            yield observation
    except BaseException as exc:
        observation.status = observation.status or _status_of(exc, failure)
        raise


class _NoContext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


_NO_CONTEXT = _NoContext()


@contextmanager
def run_observed(graph_name: str, conversation_id: str, turn: int) -> Iterator[Observation]:
    """A graph run's turn; set ``status`` (completed, failed, cancelled, interrupted)."""
    span = tracing.start_span(
        f"run {graph_name}",
        {
            "maghub.graph.name": graph_name,
            "maghub.conversation.id": conversation_id,
            "maghub.run.turn": turn,
            "gen_ai.conversation.id": conversation_id,
        },
        internal=True,
    )
    started = time.perf_counter()
    metrics.runs_in_flight.inc()
    observation = Observation()
    try:
        with _observed(span, current=True) as observation:
            yield observation
    finally:
        status = observation.status or "completed"
        metrics.runs_in_flight.dec()
        metrics.child(metrics.runs, graph_name, status).inc()
        metrics.child(metrics.run_duration, graph_name).observe(time.perf_counter() - started)
        tracing.end(span, {"maghub.run.status": status}, error=None if status == "completed" else status)


@asynccontextmanager
async def node_slot(limiter: anyio.Semaphore) -> AsyncIterator[None]:
    """A node's wait for one of its run's parallel slots (counted as waiting while it lasts)."""
    metrics.nodes_waiting.inc()
    try:
        await limiter.acquire()
    finally:
        metrics.nodes_waiting.dec()
    try:
        yield
    finally:
        limiter.release()


@contextmanager
def node_observed(graph_name: str, node_name: str) -> Iterator[Observation]:
    """One execution of a graph node (an agent: GenAI ``invoke_agent``); an exception out of it is a failure."""
    span = tracing.start_span(
        f"invoke_agent {node_name}",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": node_name, "maghub.graph.name": graph_name},
        internal=True,
    )
    started = time.perf_counter()
    observation = Observation()
    try:
        with _observed(span, current=True, failure="failed") as observation:
            yield observation
    finally:
        status = observation.status or "completed"
        metrics.child(metrics.node_executions, graph_name, node_name, status).inc()
        metrics.child(metrics.node_duration, graph_name).observe(time.perf_counter() - started)
        tracing.end(span, {"maghub.node.status": status}, error=None if status == "completed" else status)


@contextmanager
def llm_call_observed(model: str, provider_model: str) -> Iterator[Observation]:
    """One LLM call of model ``model`` (maghub's name); ``provider_model`` is the id sent to the provider.
    Set ``status`` ("error" on failure) and the tokens when the provider reported them."""
    span = tracing.start_span(
        f"chat {provider_model}",
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": provider_model, "maghub.model.name": model},
    )
    started = time.perf_counter()
    observation = Observation()
    try:
        with _observed(span, current=False) as observation:
            yield observation
    finally:
        status = observation.status or "ok"
        metrics.child(metrics.llm_calls, model, status).inc()
        metrics.child(metrics.llm_call_duration, model).observe(time.perf_counter() - started)
        attributes: dict[str, tracing.AttributeValue] = {}
        if observation.input_tokens is not None:
            metrics.child(metrics.llm_tokens, model, "input").inc(observation.input_tokens)
            attributes["gen_ai.usage.input_tokens"] = observation.input_tokens
        if observation.output_tokens is not None:
            metrics.child(metrics.llm_tokens, model, "output").inc(observation.output_tokens)
            attributes["gen_ai.usage.output_tokens"] = observation.output_tokens
        if observation.finish_reason:
            attributes["gen_ai.response.finish_reasons"] = [observation.finish_reason]
        tracing.end(span, attributes, error=None if status == "ok" else status)


@contextmanager
def tool_call_observed(server: str, tool: str) -> Iterator[Observation]:
    """One MCP tool call; set ``status`` to "error" when the tool reported an error."""
    span = tracing.start_span(
        f"execute_tool {tool}",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool, "maghub.mcp.server": server},
    )
    started = time.perf_counter()
    observation = Observation()
    try:
        with _observed(span, current=False) as observation:
            yield observation
    finally:
        status = observation.status or "ok"
        metrics.child(metrics.tool_calls, server, status).inc()
        metrics.child(metrics.tool_call_duration, server).observe(time.perf_counter() - started)
        tracing.end(span, error=None if status == "ok" else status)
