"""How a chat turn is persisted: one round per turn, each message written the moment it exists
(SPEC §6 Durability, §8), so a failed or abandoned turn is kept, marked interrupted, not lost."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maghub.chat.titles import TitleAndTags
from maghub.errors import ConflictError, NotFoundError
from maghub.states import ConversationStatus, ConversationType, RoundStatus
from maghub.store.database import Database
from maghub.store.repositories.conversations import (
    ConversationRepository,
    ConversationState,
    OpenRound,
    row_to_message,
)
from maghub.store.tables import ConversationRow, RoundRow
from maghub.usage import Usage

DEFAULT_TITLE = "新对话"  # the original's title for a conversation that has none yet

# Keys of a stored message that a provider accepts back; anything else stays in storage only.
_PROVIDER_KEYS = ("role", "content", "reasoning_content", "tool_calls", "tool_call_id", "name")


def usage_view(row: ConversationRow | RoundRow) -> dict[str, int]:
    return Usage(row.prompt_tokens, row.completion_tokens, row.total_tokens).to_dict()


@dataclass(frozen=True, slots=True)
class ChatDetails:
    """What a chat's ``details`` hold (the conversation detail shows them as stored)."""

    auxiliary_usage: Usage = field(default_factory=Usage)
    """Tokens spent on the conversation besides its turns (titles, summaries), stored as
    ``auxiliary_token_usage``: kept apart so that ``total_token_usage`` stays the sum of the turns'
    LLM calls."""

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> ChatDetails:
        return cls(Usage.from_dict(stored.get("auxiliary_token_usage") or {}))

    def to_json(self) -> dict[str, Any]:
        return {"auxiliary_token_usage": self.auxiliary_usage.to_dict()}


def with_auxiliary_usage(details: Mapping[str, Any], usage: Usage) -> dict[str, Any]:
    """``details`` counting ``usage`` among the tokens spent on the conversation besides its turns."""
    spent = ChatDetails.from_json(details).auxiliary_usage + usage
    return {**details, **ChatDetails(spent).to_json()}


def add_auxiliary_usage(row: ConversationRow, usage: Usage) -> None:
    row.details = with_auxiliary_usage(row.details, usage)


def require_owner(row: ConversationRow | None, conversation_id: str, user_id: str) -> ConversationRow:
    """The conversation if ``user_id`` owns it. Another user's conversation is reported as missing,
    so that ids cannot be probed."""
    if row is None or row.user_id != user_id:
        raise NotFoundError(
            f"Conversation '{conversation_id}' does not exist for user '{user_id}'. "
            "List yours with GET /chat/conversations?user_id=…"
        )
    return row


def history_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """A stored message as it is sent back to a provider in later turns."""
    sent = {key: message[key] for key in _PROVIDER_KEYS if message.get(key) is not None}
    if "content" not in sent and sent.get("role") != "assistant":
        sent["content"] = ""
    if sent.get("role") == "assistant":
        sent.setdefault("content", None if sent.get("tool_calls") else "")
    return sent


@dataclass(frozen=True)
class History:
    exists: bool
    messages: list[dict[str, Any]]
    """The messages of every earlier round (system messages excluded, as the original), ready to send."""
    next_round: int


class ChatStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def load_history(self, conversation_id: str, user_id: str) -> History:
        """The conversation's history, after checking that it is the user's chat and usable; fails
        early, before any streaming starts, for someone else's, a non-chat or a trashed conversation."""

        def load(session: Session) -> History:
            repo = ConversationRepository(session)
            row = repo.state(conversation_id)
            _check_usable(row, conversation_id, user_id)
            if row is None:
                return History(exists=False, messages=[], next_round=1)
            messages = [
                history_message(row_to_message(message))
                for _round, messages in repo.rounds_with_messages(conversation_id)
                for message in messages
                if message.role != "system"
            ]
            return History(exists=True, messages=messages, next_round=row.round_count + 1)

        return await self._db.run_read(load)

    async def open_round(
        self, conversation_id: str, user_id: str, history: History, user_message: dict[str, Any]
    ) -> OpenRound:
        """Store the new round with the user's message (status ``running``), creating the
        conversation if ``history`` says it is new. The caller holds the conversation's lock."""

        def open_(session: Session) -> OpenRound:
            repo = ConversationRepository(session)
            if not history.exists:
                repo.insert_conversation(conversation_id, user_id, ConversationType.CHAT, DEFAULT_TITLE)
            round_id = repo.insert_round(conversation_id, history.next_round)
            repo.insert_message(conversation_id, round_id, 0, user_message)
            return OpenRound(conversation_id, round_id, history.next_round, next_position=1)

        try:
            return await self._db.run_write(open_)
        except IntegrityError as exc:
            raise _gone(conversation_id) from exc

    async def append(
        self,
        opened: OpenRound,
        message: dict[str, Any],
        usage: Usage | None = None,
        *,
        status: RoundStatus | None = None,
        error: str | None = None,
        naming: TitleAndTags | None = None,
    ) -> None:
        """Append ``message`` (and add its call's ``usage``; end the round when ``status`` is given;
        store a generated title in the same transaction when there is one)."""

        def append_(session: Session) -> None:
            repo = ConversationRepository(session)
            repo.insert_message(opened.conversation_id, opened.round_id, opened.next_position, message)
            repo.record_progress(opened.conversation_id, opened.round_id, usage=usage, status=status, error=error)
            if naming is not None:
                apply_naming(session, opened.conversation_id, naming)

        try:
            await self._db.run_write(append_)
        except IntegrityError as exc:
            raise _gone(opened.conversation_id) from exc
        opened.next_position += 1

    async def finish(self, opened: OpenRound, status: RoundStatus, error: str | None = None) -> None:
        await self._db.run_write(
            lambda session: ConversationRepository(session).record_progress(
                opened.conversation_id, opened.round_id, status=status, error=error
            )
        )

    async def set_title_and_tags(self, conversation_id: str, naming: TitleAndTags) -> None:
        await self._db.run_write(lambda session: apply_naming(session, conversation_id, naming))


def apply_naming(
    session: Session, conversation_id: str, naming: TitleAndTags, default_title: str = DEFAULT_TITLE
) -> None:
    """A generated title and tags, unless the user has set their own meanwhile (the title is still
    ``default_title``, the tags still empty)."""
    repo = ConversationRepository(session)
    current = repo.naming(conversation_id)
    if current is None:
        return
    title, tags, details = current
    if naming.title and title == default_title:
        title = naming.title
    if naming.tags and not tags:
        tags = naming.tags
    if naming.usage is not None:
        details = with_auxiliary_usage(details, naming.usage)
    repo.set_naming(conversation_id, title, tags, details)


def require_not_in_trash(row: ConversationRow | ConversationState) -> None:
    if row.status == ConversationStatus.DELETED:
        raise ConflictError(
            f"Conversation '{row.id}' is in the trash. Restore it first with "
            'PUT /chat/conversations/{id}/status {"status": "active"}.'
        )


def _check_usable(row: ConversationState | None, conversation_id: str, user_id: str) -> None:
    if row is None:
        return
    if row.user_id != user_id:
        # Another user's conversation is reported as missing (SPEC §9), as everywhere else.
        raise NotFoundError(
            f"Conversation '{conversation_id}' does not exist for user '{user_id}'; "
            "start a new conversation with a new id."
        )
    if row.type != ConversationType.CHAT:
        raise ConflictError(
            f"Conversation '{conversation_id}' is a {row.type} conversation, not a chat; "
            "chat turns need a chat conversation id (or null for a temporary chat)."
        )
    require_not_in_trash(row)


def _gone(conversation_id: str) -> NotFoundError:
    return NotFoundError(f"Conversation '{conversation_id}' was deleted while this turn was running.")
