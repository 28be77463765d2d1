"""The agent loop that chat and graph nodes both run (SPEC §6 Node run, §8).

Consume it inside ``aclosing`` so that leaving early closes the LLM stream at once::

    async with aclosing(run_agent(llm, messages, tools=toolset, transfers=targets)) as events:
        async for event in events:
            ...  # relay LLMChunk, store AssistantTurn / ToolResult, end on AgentFinished / AgentFailed

Cancelling the consuming task closes the in-flight LLM HTTP stream and cancels the tool calls in
flight (MCP tells the server). Behaviour, where it differs from the original MAG:

- **Call limit.** At most ``max_llm_calls`` calls. When tools are offered, the last allowed call is
  made with ``tool_choice: "none"`` (tools still listed, so that the provider accepts the history),
  so the model answers from what it has; the run ends with stop reason ``max_llm_calls`` and that
  answer as output. (The original ran the 10th turn's tools and stopped with no answer.) If a
  provider ignores ``tool_choice`` and still calls tools, those calls are answered "not run" —
  except transfers, which are decisions and still taken.
- **Every tool call is answered**, with ``Error: …`` when it cannot run; results are appended in
  call order whatever order the concurrent calls finish in. Tool results of one turn are yielded
  together once all of that turn's calls are done.
- **Usage** is summed over all calls (the client always requests it); a call the provider reported
  no usage for counts as zero and is counted in ``calls_without_usage``.
- **Failures** of an LLM call end the run with :class:`AgentFailed`, which carries everything
  completed so far; a failed call is not retried here (the client already retried what is safe).
- ``reasoning_content`` in the given history is never sent back to the provider.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from maghub.agent.calls import TurnAnswers, answer_tool_calls
from maghub.agent.events import (
    AgentEvent,
    AgentFailed,
    AgentFinished,
    AssistantTurn,
    LLMChunk,
    LLMQueued,
    StopReason,
    ToolCallProgress,
    ToolResult,
    Transfer,
)
from maghub.agent.offer import ToolOffer
from maghub.agent.toolsets import ToolSet
from maghub.agent.transfers import TransferTarget
from maghub.llm.errors import LLMError
from maghub.llm.types import FinalEvent, QueuedEvent
from maghub.observability.seams import llm_call_observed
from maghub.usage import Usage

if TYPE_CHECKING:
    from maghub.llm.client import LLMClient  # imports the openai SDK: only when a model is called

DEFAULT_MAX_LLM_CALLS = 10  # SPEC §6/§8, as the original


async def run_agent(
    llm: LLMClient,
    messages: Sequence[Mapping[str, Any]],
    *,
    tools: ToolSet | None = None,
    transfers: Sequence[TransferTarget] = (),
    max_llm_calls: int = DEFAULT_MAX_LLM_CALLS,
) -> AsyncGenerator[AgentEvent, None]:
    """Run the model on ``messages`` (not modified) with ``tools`` and ``transfers`` offered, until
    it answers without tool calls, transfers, reaches ``max_llm_calls``, or fails. Yields
    :class:`LLMChunk`, :class:`AssistantTurn` and :class:`ToolResult` events as they happen and
    ends with one :class:`AgentFinished` or :class:`AgentFailed`."""
    if max_llm_calls < 1:
        raise ValueError("max_llm_calls must be at least 1")
    offer = ToolOffer(tools, transfers)
    vision = bool(getattr(llm.config, "vision", False))
    conversation = [_without_reasoning(message) for message in messages]
    progress = _Progress()
    limit_refusal = f"not run: the limit of {max_llm_calls} LLM calls for this reply was reached"

    for call_index in range(max_llm_calls):
        last_call = call_index == max_llm_calls - 1
        withhold_tools = last_call and bool(offer.schemas)
        progress.llm_calls += 1
        call = _ModelCall()
        model_events = _call_model(
            llm, conversation, offer, call_index=call_index, withhold_tools=withhold_tools, into=call
        )
        async with aclosing(model_events) as events:
            async for event in events:
                yield event
        if call.failure is not None:
            yield progress.failed(call.failure, "".join(call.streamed))
            return
        final = call.final
        assert final is not None  # stream_chat ends with a FinalEvent or raises

        message = final.message
        turn = AssistantTurn(
            message.to_openai(), message.reasoning_content, final.usage, call_index, final.finish_reason, withhold_tools
        )
        progress.add_turn(turn)
        conversation.append(turn.message)
        yield turn
        if not turn.tool_calls:
            yield progress.finished(turn.content, "max_llm_calls" if withhold_tools else "completed")
            return

        answering = _Answering(
            turn.tool_calls, offer, tools, call_index=call_index, refusal=limit_refusal if last_call else None
        )
        async with aclosing(answering.progress()) as updates:
            async for update in updates:
                yield update
        answers = answering.answers
        for result in answers.results:
            progress.add_result(result)
            conversation.append(result.message)
            yield result
        if vision and (shown := _images_message(answers.results)) is not None:
            conversation.append(shown)  # for the next call only: not stored, not sent again later
        if answers.transfer is not None:
            # The text of the handing-off turn is the output; without any, the note passed along.
            output = turn.content or answers.transfer.message
            yield progress.finished(output, "transfer", answers.transfer)
            return
        if last_call:
            yield progress.finished(turn.content, "max_llm_calls")
            return


@dataclass
class _ModelCall:
    """How one streamed LLM call ended: its final event, or the error it failed with."""

    final: FinalEvent | None = None
    failure: LLMError | None = None
    streamed: list[str] = field(default_factory=list)


async def _call_model(
    llm: LLMClient,
    conversation: list[Mapping[str, Any]],
    offer: ToolOffer,
    *,
    call_index: int,
    withhold_tools: bool,
    into: _ModelCall,
) -> AsyncGenerator[AgentEvent, None]:
    """One streamed LLM call: yields its queued and chunk events; its end (or failure) goes ``into``."""
    with llm_call_observed(llm.config.name, llm.config.model) as observed:
        try:
            stream = llm.stream_chat(
                list(conversation),  # a copy: the conversation grows while the request may still be read
                tools=offer.schemas or None,
                tool_choice="none" if withhold_tools else None,
            )
            async with aclosing(stream) as events:
                async for event in events:
                    if isinstance(event, FinalEvent):
                        into.final = event
                        observed.finished(event.usage, event.finish_reason)
                    elif isinstance(event, QueuedEvent):
                        yield LLMQueued(call_index, event.model, event.limit)
                    else:
                        into.streamed.append(event.content)
                        yield LLMChunk(event.chunk, call_index, event.content, event.reasoning)
        except LLMError as error:
            observed.status = "error"
            into.failure = error


class _Answering:
    """:func:`answer_tool_calls`, with the calls' progress yielded while they run.

    The calls run in a task of their own, so that nothing here yields inside their task group;
    closing :meth:`progress` early (the consumer left or was cancelled) cancels them."""

    def __init__(
        self, tool_calls: Sequence[dict[str, Any]], offer: ToolOffer, tools: ToolSet | None, **options: Any
    ) -> None:
        self._arguments = (tool_calls, offer, tools)
        self._options = options
        self._answers: TurnAnswers | None = None

    @property
    def answers(self) -> TurnAnswers:
        assert self._answers is not None, "progress() has not run to its end"
        return self._answers

    async def progress(self) -> AsyncGenerator[ToolCallProgress, None]:
        updates: asyncio.Queue[ToolCallProgress] = asyncio.Queue()
        answering = asyncio.create_task(
            answer_tool_calls(*self._arguments, on_progress=updates.put_nowait, **self._options)
        )
        try:
            while not answering.done():
                next_update = asyncio.ensure_future(updates.get())
                try:
                    await asyncio.wait({answering, next_update}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if not next_update.done():
                        next_update.cancel()
                if next_update.done() and not next_update.cancelled():
                    yield next_update.result()
            while not updates.empty():
                yield updates.get_nowait()
            self._answers = answering.result()
        finally:
            if not answering.done():
                answering.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await answering


def _images_message(results: Sequence[ToolResult]) -> dict[str, Any] | None:
    """A user message with the images of this turn's tool results, for a model that reads images:
    providers take images in user messages only, not in tool messages."""
    parts: list[dict[str, Any]] = []
    for result in results:
        if result.images:
            parts.append(
                {"type": "text", "text": f"The images of the tool call {result.tool_call_id} ({result.name}):"}
            )
            parts.extend(image.openai_part() for image in result.images)
    return {"role": "user", "content": parts} if parts else None


def _without_reasoning(message: Mapping[str, Any]) -> Mapping[str, Any]:
    # Stored assistant messages keep their reasoning; providers such as DeepSeek refuse it in requests.
    if "reasoning_content" not in message:
        return message
    return {key: value for key, value in message.items() if key != "reasoning_content"}


@dataclass
class _Progress:
    """What a run has completed so far; makes its last event."""

    messages_added: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    calls_without_usage: int = 0
    llm_calls: int = 0
    tool_outputs: list[str] = field(default_factory=list)

    def add_turn(self, turn: AssistantTurn) -> None:
        self.messages_added.append(turn.stored_message)
        if turn.usage is None:
            self.calls_without_usage += 1
        else:
            self.usage += turn.usage

    def add_result(self, result: ToolResult) -> None:
        self.messages_added.append(result.message)
        if result.usage is not None:
            self.usage += result.usage
        if result.kind == "tool" and result.content.strip():
            self.tool_outputs.append(result.content)

    @property
    def tool_output(self) -> str:
        return "\n".join(self.tool_outputs)  # "\n" as the original's tool output

    def finished(self, output: str, stop_reason: StopReason, transfer: Transfer | None = None) -> AgentFinished:
        return AgentFinished(
            output=output,
            tool_output=self.tool_output,
            messages_added=self.messages_added,
            usage=self.usage,
            llm_calls=self.llm_calls,
            stop_reason=stop_reason,
            transfer=transfer,
            calls_without_usage=self.calls_without_usage,
        )

    def failed(self, error: LLMError, partial_content: str) -> AgentFailed:
        return AgentFailed(
            message=error.message,
            kind=error.kind,
            status_code=error.status_code,
            messages_added=self.messages_added,
            usage=self.usage,
            llm_calls=self.llm_calls,
            partial_content=partial_content,
            tool_output=self.tool_output,
            calls_without_usage=self.calls_without_usage,
        )
