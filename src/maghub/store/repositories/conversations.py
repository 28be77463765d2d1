"""Conversations with their rounds and messages. Rounds and messages are only ever appended (and
deleted with their conversation); callers own the session and so the transaction.

Synchronous: conversations are the hot path of chat turns and graph nodes, so their reads and
writes run as units of work (:meth:`Database.run_read`, :meth:`Database.run_write`)."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Table, Update, bindparam, case, delete, func, insert, select, update
from sqlalchemy.orm import Session

from maghub.states import ConversationStatus, ConversationType, RoundStatus
from maghub.store.tables import ConversationRow, MessageRow, RoundRow, utcnow
from maghub.usage import Usage

_ROUNDS = cast(Table, RoundRow.__table__)
_MESSAGES = cast(Table, MessageRow.__table__)
_CONVERSATIONS = cast(Table, ConversationRow.__table__)
# Message keys stored in columns of their own; anything else an OpenAI message carries goes to ``extra``.
_MESSAGE_COLUMNS = ("role", "content", "reasoning_content", "tool_calls", "tool_call_id")


@dataclass
class OpenRound:
    """A round being written by the turn or node that owns it; counts its messages' positions."""

    conversation_id: str
    round_id: int
    number: int
    next_position: int = 0


def row_to_message(row: MessageRow) -> dict[str, Any]:
    message: dict[str, Any] = {"role": row.role, "content": row.content}
    for key in ("reasoning_content", "tool_calls", "tool_call_id"):
        if getattr(row, key) is not None:
            message[key] = getattr(row, key)
    return {**message, **row.extra}


class ConversationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, conversation_id: str, *, for_update: bool = False) -> ConversationRow | None:
        query = select(ConversationRow).where(ConversationRow.id == conversation_id)
        if for_update:
            query = query.with_for_update()
        return self._session.scalar(query)

    def add(self, row: ConversationRow) -> None:
        self._session.add(row)

    def list_for_user(
        self, user_id: str, *, statuses: Collection[str] | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[Sequence[ConversationRow], int]:
        """The user's conversations, most recently updated first, and how many there are in all."""
        condition = ConversationRow.user_id == user_id
        if statuses is not None:
            condition = condition & ConversationRow.status.in_(list(statuses))
        total = self._session.scalar(select(func.count()).select_from(ConversationRow).where(condition))
        rows = self._session.scalars(
            select(ConversationRow)
            .where(condition)
            .order_by(ConversationRow.updated_at.desc(), ConversationRow.id)
            .limit(limit)
            .offset(offset)
        )
        return rows.all(), int(total or 0)

    def delete(self, conversation_id: str) -> bool:
        """Delete the conversation with every round and message (the foreign keys cascade)."""
        result = self._session.execute(delete(ConversationRow).where(ConversationRow.id == conversation_id))
        return bool(cast(CursorResult[Any], result).rowcount)

    def details_for_update(self, conversation_id: str) -> dict[str, Any] | None:
        """The conversation's ``details``, locked until the transaction ends (None: no such conversation)."""
        row = self.get(conversation_id, for_update=True)
        return None if row is None else dict(row.details)

    def set_details(self, conversation_id: str, details: dict[str, Any]) -> None:
        self._session.execute(
            update(ConversationRow)
            .where(ConversationRow.id == conversation_id)
            .values(details=details, updated_at=utcnow())
        )

    def interrupt_running_rounds(self, conversation_id: str, reason: str) -> None:
        """Rounds still ``running`` (their writer is gone) become ``interrupted`` with ``reason``."""
        self._session.execute(
            update(RoundRow)
            .where(RoundRow.conversation_id == conversation_id, RoundRow.status == RoundStatus.RUNNING)
            .values(status=RoundStatus.INTERRUPTED, error=reason, updated_at=utcnow())
        )

    def delete_rounds(self, conversation_id: str) -> None:
        """Remove every round (and so every message) of a conversation, e.g. before a compaction
        writes its shorter history."""
        self._session.execute(delete(RoundRow).where(RoundRow.conversation_id == conversation_id))

    # --- the hot path of running turns and graph nodes: plain statements, no reads before writes ---
    # Prebuilt Core statements with bound parameters, run on the session's connection: SQLAlchemy
    # then neither rebuilds a statement nor computes its cache key per call, which made up most of
    # the cost of these statements (about 0.9 ms for opening a round on SQLite against 0.3 ms).

    def state(self, conversation_id: str) -> ConversationState | None:
        """What a turn checks before it runs (owner, type, status) and the number of rounds."""
        row = self._connection().execute(_SELECT_STATE, {"conversation_id": conversation_id}).first()
        return None if row is None else ConversationState(*row)

    def naming(self, conversation_id: str) -> tuple[str, list[str], dict[str, Any]] | None:
        """The title, tags and details of a conversation, locked for an update of them."""
        row = self._connection().execute(_SELECT_NAMING, {"conversation_id": conversation_id}).first()
        return None if row is None else (row.title, row.tags, row.details)

    def set_naming(self, conversation_id: str, title: str, tags: list[str], details: dict[str, Any]) -> None:
        self._connection().execute(
            _UPDATE_NAMING,
            {
                "conversation_id": conversation_id,
                "new_title": title,
                "new_tags": tags,
                "new_details": details,
                "now": utcnow(),
            },
        )

    def insert_conversation(
        self,
        conversation_id: str,
        user_id: str,
        type_: ConversationType,
        title: str,
        *,
        tags: list[str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        now = utcnow()
        self._connection().execute(
            _INSERT_CONVERSATION,
            {
                "id": conversation_id,
                "user_id": user_id,
                "type": type_,
                "title": title,
                "tags": tags or [],
                "status": ConversationStatus.ACTIVE,
                "round_count": 0,
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "total_tokens": 0,
                "details": details or {},
                "created_at": now,
                "updated_at": now,
            },
        )

    def insert_round(
        self,
        conversation_id: str,
        number: int,
        details: dict[str, Any] | None = None,
        status: RoundStatus = RoundStatus.RUNNING,
    ) -> int:
        """Add round ``number`` (the caller knows it: it holds the conversation) and count it."""
        now = utcnow()
        connection = self._connection()
        round_id = connection.execute(
            _INSERT_ROUND,
            {
                "conversation_id": conversation_id,
                "number": number,
                "status": status,
                "details": details or {},
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "total_tokens": 0,
                "created_at": now,
                "updated_at": now,
            },
        ).scalar_one()
        connection.execute(_COUNT_ROUND, {"conversation_id": conversation_id, "number": number, "now": now})
        return int(round_id)

    def insert_message(self, conversation_id: str, round_id: int, position: int, message: dict[str, Any]) -> None:
        self.insert_messages(conversation_id, round_id, position, [message])

    def insert_messages(
        self, conversation_id: str, round_id: int, first_position: int, messages: Sequence[dict[str, Any]]
    ) -> None:
        """Append ``messages`` at ``first_position`` onwards, in one statement."""
        if not messages:
            return
        now = utcnow()
        rows = [
            {
                "conversation_id": conversation_id,
                "round_id": round_id,
                "position": first_position + offset,
                "extra": {key: value for key, value in message.items() if key not in _MESSAGE_COLUMNS},
                "created_at": now,
                **{key: message.get(key) for key in _MESSAGE_COLUMNS},
            }
            for offset, message in enumerate(messages)
        ]
        self._connection().execute(_INSERT_MESSAGE, rows)

    def record_progress(
        self,
        conversation_id: str,
        round_id: int,
        *,
        usage: Usage | None = None,
        status: RoundStatus | None = None,
        error: str | None = None,
    ) -> None:
        """Add ``usage`` to the round and the conversation, set the round's status, touch both."""
        changes: dict[str, Any] = {} if status is None else {"status": status, "error": error}
        self._update_round(conversation_id, round_id, changes, usage)

    def end_round(
        self,
        conversation_id: str,
        round_id: int,
        status: RoundStatus,
        details: dict[str, Any],
        error: str | None = None,
        *,
        usage: Usage | None = None,
    ) -> None:
        """Set a finished round's status and its full ``details`` (the caller has them in memory),
        adding ``usage`` (of a last LLM call stored with the end) to the round and the conversation."""
        changes = {"status": status, "details": details, "error": error}
        self._update_round(conversation_id, round_id, changes, usage)

    def _update_round(self, conversation_id: str, round_id: int, changes: dict[str, Any], usage: Usage | None) -> None:
        """Apply ``changes`` to the round, add ``usage`` to it and its conversation, touch both."""
        added = {f"add_{key}": value for key, value in (usage or Usage()).to_dict().items()}
        now = utcnow()
        connection = self._connection()
        connection.execute(
            _round_update(tuple(sorted(changes))),
            {
                **{f"new_{column}": value for column, value in changes.items()},
                **added,
                "round_id": round_id,
                "now": now,
            },
        )
        connection.execute(_ADD_CONVERSATION_USAGE, {**added, "conversation_id": conversation_id, "now": now})

    def _connection(self) -> Connection:
        return self._session.connection()

    def rounds_with_messages(self, conversation_id: str) -> list[tuple[RoundRow, list[MessageRow]]]:
        rounds = (
            self._session.scalars(
                select(RoundRow).where(RoundRow.conversation_id == conversation_id).order_by(RoundRow.number)
            )
        ).all()
        messages = (
            self._session.scalars(
                select(MessageRow)
                .where(MessageRow.conversation_id == conversation_id)
                .order_by(MessageRow.round_id, MessageRow.position)
            )
        ).all()
        by_round: dict[int, list[MessageRow]] = {round_row.id: [] for round_row in rounds}
        for message in messages:
            by_round[message.round_id].append(message)
        return [(round_row, by_round[round_row.id]) for round_row in rounds]


@dataclass(frozen=True)
class ConversationState:
    id: str
    user_id: str
    type: str
    status: str
    round_count: int


_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")
_SELECT_STATE = select(
    _CONVERSATIONS.c.id,
    _CONVERSATIONS.c.user_id,
    _CONVERSATIONS.c.type,
    _CONVERSATIONS.c.status,
    _CONVERSATIONS.c.round_count,
).where(_CONVERSATIONS.c.id == bindparam("conversation_id"))
_SELECT_NAMING = (
    select(_CONVERSATIONS.c.title, _CONVERSATIONS.c.tags, _CONVERSATIONS.c.details)
    .where(_CONVERSATIONS.c.id == bindparam("conversation_id"))
    .with_for_update()
)
_UPDATE_NAMING = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("conversation_id"))
    .values(
        title=bindparam("new_title"),
        tags=bindparam("new_tags"),
        details=bindparam("new_details"),
        updated_at=bindparam("now"),
    )
)
_INSERT_CONVERSATION = insert(_CONVERSATIONS)
_INSERT_ROUND = insert(_ROUNDS).returning(_ROUNDS.c.id)
# The highest round number, not the last one inserted: a graph run opens the rounds of concurrent
# nodes in concurrent transactions, which may commit out of order (a lower count then won, and the
# next turn's start round reused a number).
_COUNT_ROUND = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("conversation_id"))
    .values(
        round_count=case(
            (_CONVERSATIONS.c.round_count < bindparam("number"), bindparam("number")),
            else_=_CONVERSATIONS.c.round_count,
        ),
        updated_at=bindparam("now"),
    )
)
_INSERT_MESSAGE = insert(_MESSAGES)
_ADD_CONVERSATION_USAGE = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("conversation_id"))
    .values(
        updated_at=bindparam("now"),
        **{key: _CONVERSATIONS.c[key] + bindparam(f"add_{key}") for key in _USAGE_KEYS},
    )
)


@functools.cache
def _round_update(changed: tuple[str, ...]) -> Update:
    """The round update that sets the ``changed`` columns (bound as ``new_<column>``) and adds usage."""
    return (
        update(_ROUNDS)
        .where(_ROUNDS.c.id == bindparam("round_id"))
        .values(
            updated_at=bindparam("now"),
            **{column: bindparam(f"new_{column}") for column in changed},
            **{key: _ROUNDS.c[key] + bindparam(f"add_{key}") for key in _USAGE_KEYS},
        )
    )
