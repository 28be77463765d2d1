"""A chat turn: validate, run the agent loop with the requested MCP servers' tools, persist each
step as it happens, and report everything as typed events (SSE encoding is the API layer's).

Behaviour beyond the original MAG (reference §1.1, SPEC §8):

- Bad requests fail before anything streams: blank prompt 400, unknown model or MCP server 404,
  someone else's conversation 404 (as if missing), a conversation that is not a chat 409.
- Two turns sent at once on one conversation are **serialised**: the second waits for the first
  to finish and then sees its messages in its history (one maghub process; the lock is in memory).
- Each completed LLM call and each tool result is stored the moment it exists. A turn that fails
  or whose client goes away keeps what it produced — partial text included — and is marked
  ``interrupted``; tool calls that never got a result are answered ``Error: …`` in storage so the
  history stays valid for the next turn.
- Title and tags of a new conversation are generated concurrently with the answer, from the user's
  first message, and stored before the turn ends (so they are there when a client reloads after
  ``[DONE]``), without a second wait after the answer in the usual case.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import anyio

from maghub.agent import (
    DEFAULT_MAX_LLM_CALLS,
    AgentEvent,
    AgentFailed,
    AgentFinished,
    AssistantTurn,
    LLMChunk,
    MCPToolSet,
    ToolResult,
    offer_tools,
    run_agent,
)
from maghub.agent.recording import RoundRecorder
from maghub.chat.locks import KeyedLocks
from maghub.chat.store import ChatStore, History
from maghub.chat.titles import TitleAndTags, generate_title_and_tags
from maghub.errors import InvalidInputError, MaghubError
from maghub.llm.registry import ModelRegistry
from maghub.mcp.connections.manager import MCPManager
from maghub.mcp.errors import UnknownServerError
from maghub.mcp.results import error_text
from maghub.service.lifecycle import ActivityTracker
from maghub.states import RoundStatus
from maghub.store.repositories.conversations import OpenRound
from maghub.usage import Usage

if TYPE_CHECKING:
    from maghub.llm.client import LLMClient  # imports the openai SDK: only when a model is called

log = logging.getLogger(__name__)

DEFAULT_USER = "default_user"
# How long the end of a first turn waits for its title, at most; a later one is still stored.
TITLE_WAIT_SECONDS = 15.0
QUESTION_TITLE_CHARS = 30
DISCONNECTED = "the client went away before the turn finished"
_INTERRUPTED = "not run: the turn was interrupted before this tool returned"


@dataclass(frozen=True)
class ChatRequest:
    user_prompt: str
    model_name: str
    system_prompt: str | None = None
    mcp_servers: Sequence[str] = ()
    conversation_id: str | None = None
    """None: a temporary chat, nothing stored."""
    user_id: str = DEFAULT_USER


@dataclass(frozen=True)
class ChatNotice:
    """Something the user should know that does not stop the turn (a server without tools)."""

    message: str


ChatEvent: TypeAlias = AgentEvent | ChatNotice


class ChatService:
    def __init__(
        self,
        store: ChatStore,
        models: ModelRegistry,
        mcp: MCPManager,
        activity: ActivityTracker,
        *,
        max_llm_calls: int = DEFAULT_MAX_LLM_CALLS,
    ) -> None:
        self.store = store
        self._models = models
        self.mcp = mcp
        self.activity = activity
        self._max_llm_calls = max_llm_calls
        self.locks = KeyedLocks()
        """Held by a turn (and a compaction) for its conversation."""

    async def start(self, request: ChatRequest) -> ChatTurn:
        """Check the request and return the turn, ready to run. Raises before anything is stored."""
        self.activity.check_open()
        prompt = request.user_prompt.strip()
        if not prompt:
            raise InvalidInputError("user_prompt is empty: send the user's message in user_prompt.")
        if not request.model_name.strip():
            raise InvalidInputError("model_name is empty: name one of the models listed by GET /models.")
        llm = await self._models.client(request.model_name)
        servers = list(dict.fromkeys(request.mcp_servers))
        configured = {config.name for config in self.mcp.configs()}
        for name in servers:
            if name not in configured:
                raise UnknownServerError(name)
        history: _ReadHistory | None = None
        if request.conversation_id is not None:
            if not request.conversation_id.strip():
                raise InvalidInputError("conversation_id is blank: send an id, or null for a temporary chat.")
            # Read once, before streaming starts: it checks the id, and the turn reuses it when no
            # other turn ran on the conversation meanwhile.
            reading = self.locks.now()
            history = _ReadHistory(reading, await self.store.load_history(request.conversation_id, request.user_id))
        system = (request.system_prompt or "").strip()
        return ChatTurn(self, request, llm, prompt, system, servers, history=history)

    def run_agent(self, llm: LLMClient, messages: list[dict[str, Any]], toolset: MCPToolSet) -> Any:
        return run_agent(llm, messages, tools=toolset, max_llm_calls=self._max_llm_calls)


@dataclass
class _Unfinished:
    """What an interrupted turn must still store: streamed text of the call in flight and tool
    calls without a result."""

    text: list[str] = field(default_factory=list)
    pending_calls: list[str] = field(default_factory=list)

    def track(self, event: ChatEvent) -> None:
        if isinstance(event, LLMChunk):
            self.text.append(event.content)
        elif isinstance(event, AssistantTurn):
            self.text.clear()
            self.pending_calls = [call.get("id", "") for call in event.tool_calls]
        elif isinstance(event, ToolResult) and event.tool_call_id in self.pending_calls:
            self.pending_calls.remove(event.tool_call_id)

    def messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [
            {"role": "tool", "tool_call_id": call_id, "content": error_text(_INTERRUPTED)}
            for call_id in self.pending_calls
        ]
        partial = "".join(self.text)
        if partial:
            messages.append({"role": "assistant", "content": partial, "interrupted": True})
        return messages


@dataclass(frozen=True)
class _ReadHistory:
    clock: int
    """:meth:`KeyedLocks.now` before the history was read."""
    history: History


class ChatTurn:
    def __init__(
        self,
        service: ChatService,
        request: ChatRequest,
        llm: LLMClient,
        prompt: str,
        system: str,
        servers: list[str],
        *,
        history: _ReadHistory | None = None,
    ) -> None:
        self.request = request
        self._read_history = history
        self.user_message = {"role": "user", "content": prompt}
        self.system_message = {"role": "system", "content": system} if system else None
        self._service = service
        self._llm = llm
        self._servers = servers

    async def events(self) -> AsyncGenerator[ChatEvent, None]:
        """Run the turn. Consume it inside ``aclosing``: leaving early (a client that went away)
        cancels the LLM stream and tool calls and stores the turn as interrupted."""
        conversation_id = self.request.conversation_id
        with self._service.activity.session("chat_stream", conversation_id or "temporary"):
            toolset, notices = await offer_tools(self._service.mcp, self._servers)
            for notice in notices:
                yield ChatNotice(notice)
            if conversation_id is None:
                async with aclosing(self._service.run_agent(self._llm, self._messages([]), toolset)) as events:
                    async for event in events:
                        yield event
                return
            async with (
                self._service.locks.hold(conversation_id),
                aclosing(self._persistent(conversation_id, toolset)) as events,
            ):
                async for event in events:
                    yield event

    def _messages(self, history: list[dict[str, Any]]) -> list[dict[str, Any]]:
        system = [self.system_message] if self.system_message else []
        return [*system, *history, self.user_message]

    async def _persistent(self, conversation_id: str, toolset: MCPToolSet) -> AsyncGenerator[ChatEvent, None]:
        store = self._service.store
        history = await self._history(conversation_id)
        # The round is written while the model already reads the prompt: the first token does not
        # wait for the database. Every later write waits for this one.
        opening = asyncio.create_task(
            store.open_round(conversation_id, self.request.user_id, history, self.user_message)
        )
        # A new conversation is named from its question while the answer is written, so that the
        # title is there at [DONE] without making the client wait for a second call after it.
        title = asyncio.create_task(self._title()) if history.next_round == 1 else None
        writer = _RoundWriter(store, opening, title)
        unfinished = _Unfinished()
        try:
            agent = self._service.run_agent(self._llm, self._messages(history.messages), toolset)
            async with aclosing(agent) as events:
                async for event in events:
                    await writer.store(event)
                    unfinished.track(event)
                    yield event
        finally:
            with anyio.CancelScope(shield=True):
                await writer.close(unfinished)
                await writer.store_title(TITLE_WAIT_SECONDS if writer.status == RoundStatus.COMPLETED else 0)

    async def _history(self, conversation_id: str) -> History:
        """The history read by :meth:`ChatService.start`, or read again if another turn (or a
        compaction) held the conversation since. Call it holding the conversation's lock."""
        read = self._read_history
        if read is not None and not self._service.locks.released_since(conversation_id, read.clock):
            return read.history
        return await self._service.store.load_history(conversation_id, self.request.user_id)

    async def _title(self) -> TitleAndTags:
        generated = await generate_title_and_tags(self._llm, [self.user_message])
        if generated is None:  # the model could not name it: the start of the question will do
            first_line = self.user_message["content"].splitlines()[0]
            return TitleAndTags(first_line[:QUESTION_TITLE_CHARS].strip(), [], None)
        return generated


class _RoundWriter:
    """Stores a turn's events in its round as they come. The final answer is written together
    with the round's end (one transaction instead of two); whatever an interrupted turn leaves
    unwritten is written by :meth:`close`."""

    def __init__(
        self, store: ChatStore, opening: asyncio.Task[OpenRound], title: asyncio.Task[TitleAndTags] | None
    ) -> None:
        self._store = store
        self._recorder = RoundRecorder(opening, store.append)
        self._title = title
        self.status = RoundStatus.INTERRUPTED
        self.error: str | None = DISCONNECTED

    async def store(self, event: ChatEvent) -> None:
        if isinstance(event, AssistantTurn | ToolResult):
            await self._recorder.record(event)
        elif isinstance(event, AgentFinished):
            self.status, self.error = RoundStatus.COMPLETED, None
            await self._write_answer(status=RoundStatus.COMPLETED)
        elif isinstance(event, AgentFailed):
            self.error = event.message

    async def close(self, unfinished: _Unfinished) -> None:
        """End the round (after a failure, a cancel or a client that left: as interrupted)."""
        try:
            opened = await self._recorder.opened()
        except MaghubError as exc:
            log.warning("the chat round could not be stored", extra={"error": str(exc)})
            return
        if self.status == RoundStatus.COMPLETED:
            return
        try:
            await self._write_answer()
            for message in unfinished.messages():
                await self._store.append(opened, message)
            await self._store.finish(opened, self.status, self.error)
        except MaghubError as exc:  # e.g. the conversation was deleted meanwhile
            log.warning("could not finish the chat round", extra={"round": opened.round_id, "error": str(exc)})

    async def _write_answer(self, status: RoundStatus | None = None) -> None:
        answer = self._recorder.take_answer()
        if answer is not None:
            naming = self._ready_title()  # usually ready by now: stored in the same transaction
            await self._store.append(
                await self._recorder.opened(),
                answer.stored_message,
                usage=answer.usage or Usage(),
                status=status,
                naming=naming,
            )
        elif status is not None:
            await self._store.finish(await self._recorder.opened(), status)

    def _ready_title(self) -> TitleAndTags | None:
        title, self._title = self._title, None
        if title is not None and title.done() and not title.cancelled() and title.exception() is None:
            return title.result()
        self._title = title
        return None

    async def store_title(self, timeout: float) -> None:
        """Store the title if it was not stored with the answer, waiting for it up to ``timeout`` s."""
        if self._title is None:
            return
        title, self._title = self._title, None
        with anyio.move_on_after(timeout):
            await asyncio.wait({title})
        if not title.done():
            title.cancel()
            return
        if title.cancelled() or title.exception() is not None:
            return
        try:
            await self._store.set_title_and_tags((await self._recorder.opened()).conversation_id, title.result())
        except MaghubError as exc:
            log.warning("could not store the conversation's title", extra={"error": str(exc)})
