"""Generation sessions (SPEC §11, reference §3.3–§3.4, §8.4): multi-turn design conversations whose
replies follow the tag protocol, and the finish command that checks and saves the design.

One machinery for both kinds (graphs and MCP tools, :mod:`maghub.generation.kinds`); the model is
called through the agent loop (one call, no tools), and the conversation is stored as it goes
(:mod:`maghub.generation.store`). Differences from the original, by design:

- Bad requests fail before anything streams: blank requirement 400, unknown model 404, someone
  else's conversation 404, a chat (or the other kind of generation) 409, the finish command on
  a conversation that does not exist 404 (and without ``conversation_id`` 400).
- The conversation id is always known: without one, the first event announces a new id.
- Turns and finish commands on one conversation run one at a time (in this process); a finish
  command on a design that was saved already and has not changed since answers the same
  completion again instead of saving twice.
- A reply's tags are applied in order; a tag that cannot be applied is reported in the stream.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import anyio

from maghub.agent import AgentFailed, AgentFinished, LLMChunk, run_agent
from maghub.chat.locks import KeyedLocks
from maghub.chat.titles import TitleAndTags, generate_title_and_tags
from maghub.errors import InvalidInputError, MaghubError, NotFoundError
from maghub.generation.store import GenerationStore, SessionState, StoredSession
from maghub.generation.tags import is_finish_command
from maghub.llm.registry import ModelRegistry
from maghub.llm.types import Usage
from maghub.service.lifecycle import ActivityTracker

if TYPE_CHECKING:
    from maghub.auth.users import User
    from maghub.llm.client import LLMClient

log = logging.getLogger(__name__)

DEFAULT_USER = "default_user"
TITLE_WAIT_SECONDS = 15.0
DISCONNECTED = "the client went away before the reply was complete"


@dataclass(frozen=True)
class GenerationRequest:
    requirement: str
    model_name: str
    conversation_id: str | None = None
    graph_name: str | None = None
    """Graph generation only: the existing graph this session improves."""
    user_id: str = DEFAULT_USER
    editor: User | None = None
    """The signed-in user in auth mode (whose graph a new design becomes)."""


# --- events (the API layer encodes them) ----------------------------------------------------------


@dataclass(frozen=True)
class ConversationCreated:
    conversation_id: str


@dataclass(frozen=True)
class DesignProblem:
    """Part of a reply that could not be applied to the design (e.g. a ``<node>`` that is not JSON)."""

    message: str


@dataclass(frozen=True)
class GenerationCompleted:
    """The design was saved (graph) or registered (tool)."""

    result: dict[str, Any]
    """``graph_name`` or ``tool_name``, ``message``, and what else was done (version, warnings)."""


@dataclass(frozen=True)
class GenerationIncomplete:
    message: str
    missing_fields: list[str]
    problems: list[dict[str, Any]]
    """Each ``{node, field, message}`` (``node`` None for the design as a whole)."""


@dataclass(frozen=True)
class GenerationFailed:
    message: str
    type: str


GenerationEvent: TypeAlias = (
    ConversationCreated
    | LLMChunk
    | AgentFailed
    | DesignProblem
    | GenerationCompleted
    | GenerationIncomplete
    | GenerationFailed
)


@dataclass(frozen=True)
class FinishOutcome:
    event: GenerationCompleted | GenerationIncomplete | GenerationFailed
    details: dict[str, Any] = field(default_factory=dict)
    """What to merge into the conversation's details (finish results the web client reads)."""


class GenerationKind(Protocol):
    """What differs between graph and tool generation."""

    generation_type: str
    """``graph`` or ``mcp``: stored as the conversation's ``generation_type``."""
    id_prefix: str
    default_title: str

    async def check(self, request: GenerationRequest, stored: StoredSession | None) -> None:
        """Raise for a request this kind refuses (before anything streams)."""

    async def start_session(self, request: GenerationRequest) -> tuple[str, SessionState]:
        """The system prompt and the initial state of a new session."""

    def apply_reply(self, state: SessionState, reply: str) -> tuple[dict[str, Any], list[str]]:
        """The design after ``reply``'s tags (``parsed_results``) and the problems applying them."""

    async def finish(self, state: SessionState, request: GenerationRequest) -> FinishOutcome: ...


class GenerationService:
    def __init__(self, store: GenerationStore, models: ModelRegistry, activity: ActivityTracker) -> None:
        self.store = store
        self._models = models
        self.activity = activity
        self.locks = KeyedLocks()

    async def start(self, kind: GenerationKind, request: GenerationRequest) -> GenerationTurn | FinishCommand:
        """Check the request and return what runs it. Raises before anything is stored or streamed."""
        self.activity.check_open()
        if not request.requirement.strip():
            raise InvalidInputError("requirement is empty: describe what to design, or send <end>END</end> to finish.")
        conversation_id = request.conversation_id
        if conversation_id is not None and not conversation_id.strip():
            raise InvalidInputError("conversation_id is blank: send an id, or leave it out to start a new session.")
        if is_finish_command(request.requirement):
            if conversation_id is None:
                raise InvalidInputError(
                    "The finish command <end>END</end> needs the conversation_id of the design to finish."
                )
            stored = await self.store.load(conversation_id, request.user_id, kind.generation_type)
            if stored is None:
                raise NotFoundError(
                    f"There is no {kind.generation_type} generation conversation '{conversation_id}' to finish; "
                    "design something in it first."
                )
            await kind.check(request, stored)
            return FinishCommand(self, kind, request, conversation_id)
        if not request.model_name.strip():
            raise InvalidInputError("model_name is empty: name one of the models listed by GET /models.")
        llm = await self._models.client(request.model_name)
        stored = None
        if conversation_id is not None:
            stored = await self.store.load(conversation_id, request.user_id, kind.generation_type)
        await kind.check(request, stored)
        return GenerationTurn(self, kind, request, llm)


class FinishCommand:
    """``<end>END</end>``: check the design and save it, or say what is missing and wrong."""

    def __init__(
        self, service: GenerationService, kind: GenerationKind, request: GenerationRequest, conversation_id: str
    ) -> None:
        self._service = service
        self._kind = kind
        self._request = request
        self.conversation_id = conversation_id

    async def events(self) -> AsyncGenerator[GenerationEvent, None]:
        service = self._service
        with service.activity.session("generation_finish", self.conversation_id):
            async with service.locks.hold(self.conversation_id):
                # Read again under the lock: a turn or another finish may have changed it.
                stored = await service.store.load(
                    self.conversation_id, self._request.user_id, self._kind.generation_type
                )
                if stored is None:
                    yield GenerationFailed(f"Conversation '{self.conversation_id}' was deleted.", "parameter_error")
                    return
                # Shielded: a client that leaves must not cut a save between the tool or graph and
                # the record of it (a second finish would then not know it was saved).
                with anyio.CancelScope(shield=True):
                    outcome = await self._kind.finish(stored.state, self._request)
                    if outcome.details:
                        await service.store.merge_details(self.conversation_id, outcome.details)
                yield outcome.event


class GenerationTurn:
    """One design turn: the requirement goes to the model with the whole conversation; the reply is
    streamed, stored, and its tags applied to the design."""

    def __init__(
        self, service: GenerationService, kind: GenerationKind, request: GenerationRequest, llm: LLMClient
    ) -> None:
        self._service = service
        self._kind = kind
        self._request = request
        self._llm = llm
        self.announce = request.conversation_id is None
        self.conversation_id = request.conversation_id or f"{kind.id_prefix}{uuid.uuid4().hex[:16]}"
        self.user_message = {"role": "user", "content": request.requirement.strip()}

    async def events(self) -> AsyncGenerator[GenerationEvent, None]:
        """Run the turn; consume it inside ``aclosing`` (leaving early stores the turn as interrupted)."""
        service = self._service
        with service.activity.session("generation", self.conversation_id):
            if self.announce:
                yield ConversationCreated(self.conversation_id)
            async with service.locks.hold(self.conversation_id), aclosing(self._run()) as events:
                async for event in events:
                    yield event

    async def _run(self) -> AsyncGenerator[GenerationEvent, None]:
        service, kind, request = self._service, self._kind, self._request
        stored = await service.store.load(self.conversation_id, request.user_id, kind.generation_type)
        if stored is None:
            system_prompt, state = await kind.start_session(request)
            system = {"role": "system", "content": system_prompt}
            history = [system]
            to_store = [system, self.user_message]
            new: tuple[str, dict[str, Any]] | None = (kind.default_title, state.to_json())
            number = 1
        else:
            history, state = stored.messages, stored.state
            to_store, new, number = [self.user_message], None, stored.next_round
        opening = asyncio.create_task(
            service.store.open_round(self.conversation_id, request.user_id, number, to_store, new=new)
        )
        title = asyncio.create_task(self._title()) if new is not None else None
        answer: AgentFinished | None = None
        failure: AgentFailed | None = None
        streamed: list[str] = []
        try:
            agent = run_agent(self._llm, [*history, self.user_message], max_llm_calls=1)
            async with aclosing(agent) as events:
                async for event in events:
                    if isinstance(event, LLMChunk):
                        streamed.append(event.content)
                        yield event
                    elif isinstance(event, AgentFinished):
                        answer = event
                    elif isinstance(event, AgentFailed):
                        failure = event
        finally:
            if answer is None:  # failed, cancelled or left: keep what there is, marked interrupted
                with anyio.CancelScope(shield=True):
                    await self._store_interrupted(opening, "".join(streamed), failure, title)
        if failure is not None:
            yield failure
            return
        assert answer is not None
        parsed, problems = kind.apply_reply(state, answer.output)
        with anyio.CancelScope(shield=True):  # the reply is complete: a client leaving now must not lose it
            await service.store.end_round(
                await opening, answer.messages_added, answer.usage, "completed", details={"parsed_results": parsed}
            )
        for problem in problems:
            yield DesignProblem(problem)
        await self._store_title(title, TITLE_WAIT_SECONDS)

    async def _store_interrupted(
        self, opening: asyncio.Task[Any], partial: str, failure: AgentFailed | None, title: asyncio.Task[Any] | None
    ) -> None:
        try:
            opened = await opening
            messages = [{"role": "assistant", "content": partial, "interrupted": True}] if partial else []
            error = failure.message if failure is not None else DISCONNECTED
            usage = failure.usage if failure is not None else Usage()
            await self._service.store.end_round(opened, messages, usage, "interrupted", error=error)
        except MaghubError as exc:
            log.warning("could not store the interrupted generation turn", extra={"error": str(exc)})
        await self._store_title(title, 0)

    async def _title(self) -> TitleAndTags | None:
        return await generate_title_and_tags(self._llm, [self.user_message])

    async def _store_title(self, title: asyncio.Task[TitleAndTags | None] | None, timeout: float) -> None:
        if title is None:
            return
        with anyio.move_on_after(timeout):
            await asyncio.wait({title})
        if not title.done():
            title.cancel()
            return
        if title.cancelled() or title.exception() is not None or title.result() is None:
            return
        naming = title.result()
        assert naming is not None
        try:
            await self._service.store.set_title(self.conversation_id, naming, self._kind.default_title)
        except MaghubError as exc:
            log.warning("could not store the generation's title", extra={"error": str(exc)})
