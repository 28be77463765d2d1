"""Generation sessions stored as conversations of type ``agent`` (SPEC §3, §11), in the same tables,
rounds and messages as chats: listed, titled, owned and deleted by the conversation routes.

Round 1 holds the system prompt (the template filled when the session started) and the first
requirement; each later requirement opens a round; the model's reply ends it. The design state
(``parsed_results``) and the finish results live in the conversation's ``details``, which the
conversation detail returns at the top level, as the original web client reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maghub.states import ConversationType, RoundStatus

from maghub.chat.store import apply_naming, history_message, require_not_in_trash
from maghub.chat.titles import TitleAndTags
from maghub.errors import ConflictError, NotFoundError
from maghub.usage import Usage
from maghub.store.database import Database
from maghub.store.repositories.conversations import ConversationRepository, OpenRound, row_to_message

AGENT = ConversationType.AGENT


@dataclass(frozen=True)
class SessionState:
    """What a design session keeps in its conversation's ``details``: the keys are the ones the original
    MAG web client reads. Finish results the client shows (``final_graph_config``, ``last_finish``,
    ``final_tool``) are kept beside these, as written."""

    generation_type: str = ""
    """``graph`` or ``mcp``."""
    parsed_results: dict[str, Any] | None = None
    """The design so far, as the tags of the replies built it."""
    target_graph: str | None = None
    """The graph this session improves (graph sessions started with ``graph_name``)."""
    created_graph: str | None = None
    """The graph an earlier finish created: a later finish saves its next version."""
    finished_design: dict[str, Any] | None = None
    """The design the last successful finish saved (an unchanged design is not saved twice)."""
    completion: dict[str, Any] | None = None
    """What the last successful finish answered."""

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> SessionState:
        return cls(**{item.name: stored[item.name] for item in fields(cls) if item.name in stored})

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class StoredSession:
    messages: list[dict[str, Any]]
    """Every message so far, the system prompt first, ready to send."""
    next_round: int
    state: SessionState


class GenerationStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def load(self, conversation_id: str, user_id: str, generation_type: str) -> StoredSession | None:
        """The session, or None when no conversation has this id. Raises for someone else's
        conversation (404, as if absent), a chat or graph run, the other kind of generation, or
        one in the trash (409)."""

        def load(session: Session) -> StoredSession | None:
            repo = ConversationRepository(session)
            row = repo.get(conversation_id)
            if row is None:
                return None
            if row.user_id != user_id:
                raise NotFoundError(
                    f"Conversation '{conversation_id}' belongs to another user; start a new one with another id."
                )
            kind = SessionState.from_json(row.details).generation_type
            if row.type != AGENT or kind != generation_type:
                what = f"{kind} generation" if row.type == AGENT else row.type
                raise ConflictError(
                    f"Conversation '{conversation_id}' is a {what} conversation, not a {generation_type} "
                    "generation; use another conversation_id (or none: a new id is announced)."
                )
            require_not_in_trash(row)
            messages = [
                history_message(row_to_message(message))
                for _round, messages in repo.rounds_with_messages(conversation_id)
                for message in messages
            ]
            return StoredSession(messages, row.round_count + 1, SessionState.from_json(row.details))

        return await self._db.run_read(load)

    async def open_round(
        self,
        conversation_id: str,
        user_id: str,
        number: int,
        messages: list[dict[str, Any]],
        *,
        new: tuple[str, dict[str, Any]] | None = None,
    ) -> OpenRound:
        """Store round ``number`` with ``messages``; ``new`` = (title, details) creates the conversation."""

        def open_(session: Session) -> OpenRound:
            repo = ConversationRepository(session)
            if new is not None:
                title, details = new
                repo.insert_conversation(conversation_id, user_id, AGENT, title, details=details)
            round_id = repo.insert_round(conversation_id, number)
            repo.insert_messages(conversation_id, round_id, 0, messages)
            return OpenRound(conversation_id, round_id, number, next_position=len(messages))

        try:
            return await self._db.run_write(open_)
        except IntegrityError as exc:  # created meanwhile by a request on another server, or deleted
            raise ConflictError(
                f"Conversation '{conversation_id}' changed while this request started; send it again."
            ) from exc

    async def end_round(
        self,
        opened: OpenRound,
        messages: list[dict[str, Any]],
        usage: Usage | None,
        status: str,
        *,
        error: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Append ``messages``, end the round, and merge ``details`` into the conversation's, at once."""

        def end(session: Session) -> None:
            repo = ConversationRepository(session)
            repo.insert_messages(opened.conversation_id, opened.round_id, opened.next_position, messages)
            repo.record_progress(
                opened.conversation_id, opened.round_id, usage=usage, status=RoundStatus(status), error=error
            )
            if details:
                _merge_details(repo, opened.conversation_id, details)

        try:
            await self._db.run_write(end)
        except IntegrityError as exc:
            raise NotFoundError(f"Conversation '{opened.conversation_id}' was deleted during this turn.") from exc
        opened.next_position += len(messages)

    async def merge_details(self, conversation_id: str, details: Mapping[str, Any]) -> None:
        await self._db.run_write(
            lambda session: _merge_details(ConversationRepository(session), conversation_id, details)
        )

    async def set_title(self, conversation_id: str, naming: TitleAndTags, default_title: str) -> None:
        await self._db.run_write(lambda session: apply_naming(session, conversation_id, naming, default_title))


def _merge_details(repo: ConversationRepository, conversation_id: str, changes: Mapping[str, Any]) -> None:
    current = repo.naming(conversation_id)
    if current is None:
        raise NotFoundError(f"Conversation '{conversation_id}' was deleted meanwhile.")
    title, tags, details = current
    repo.set_naming(conversation_id, title, tags, {**details, **changes})
