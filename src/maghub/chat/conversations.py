"""Stored conversations as their owner sees and manages them (reference §1.2–§1.8, SPEC §8):
list, detail, status, title, tags, permanent delete, compaction. Every operation checks that the
caller owns the conversation."""

from __future__ import annotations

import builtins

import shutil
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
from sqlalchemy.orm import Session

from maghub.chat.compaction import CompactionResult, brutal_compact, make_llm_summariser, precise_compact
from maghub.chat.locks import KeyedLocks
from maghub.chat.store import add_auxiliary_usage, require_not_in_trash, require_owner, usage_view
from maghub.errors import ConflictError, InvalidInputError, NotFoundError
from maghub.llm.registry import ModelRegistry
from maghub.paths import conversation_files_dir
from maghub.states import STATE_VERSION_KEY, ConversationStatus, ConversationType, RoundStatus
from maghub.store.database import Database
from maghub.store.repositories.conversations import ConversationRepository, row_to_message
from maghub.store.tables import ConversationRow, MessageRow, RoundRow, utcnow
from maghub.timestamps import iso_utc

CompactType = Literal["brutal", "precise"]
GENERATION_TYPES = {ConversationType.CHAT: "chat", ConversationType.GRAPH: "graph_run"}
# How many long tool results a precise compaction summarises at once.
SUMMARY_CONCURRENCY = 4


def summary_view(row: ConversationRow) -> dict[str, Any]:
    """A list item: the seed's ``conversation_id`` and the original's ``_id`` (its web client reads it)."""
    return {
        "conversation_id": row.id,
        "_id": row.id,
        "user_id": row.user_id,
        "type": row.type,
        "title": row.title,
        "created_at": iso_utc(row.created_at),
        "updated_at": iso_utc(row.updated_at),
        "round_count": row.round_count,
        "total_token_usage": usage_view(row),
        "status": row.status,
        "tags": list(row.tags),
    }


def round_view(round_row: RoundRow, messages: builtins.list[dict[str, Any]]) -> dict[str, Any]:
    view: dict[str, Any] = {"round": round_row.number, **round_row.details}
    view.update(status=round_row.status, messages=messages, token_usage=usage_view(round_row))
    if round_row.error:
        view["error"] = round_row.error
    return view


@dataclass(frozen=True)
class ConversationPage:
    items: builtins.list[dict[str, Any]]
    total: int


class ConversationService:
    def __init__(self, database: Database, models: ModelRegistry, locks: KeyedLocks, data_dir: Path) -> None:
        self._db = database
        self._models = models
        self._locks = locks
        self._data_dir = data_dir

    async def list(
        self, user_id: str, *, statuses: Collection[str] | None = None, limit: int = 200, offset: int = 0
    ) -> ConversationPage:
        rows, total = await self._db.run_read(
            lambda session: ConversationRepository(session).list_for_user(
                user_id, statuses=statuses, limit=limit, offset=offset
            )
        )
        return ConversationPage([summary_view(row) for row in rows], total)

    async def detail(self, conversation_id: str, user_id: str) -> dict[str, Any]:
        def load(session: Session) -> tuple[ConversationRow, list[tuple[RoundRow, list[MessageRow]]]]:
            repo = ConversationRepository(session)
            row = require_owner(repo.get(conversation_id), conversation_id, user_id)
            return row, repo.rounds_with_messages(conversation_id)

        row, rounds = await self._db.run_read(load)
        details = dict(row.details)
        details.pop(STATE_VERSION_KEY, None)
        view = summary_view(row)
        view.update(
            rounds=[round_view(r, [row_to_message(m) for m in messages]) for r, messages in rounds],
            generation_type=details.pop("generation_type", GENERATION_TYPES.get(ConversationType(row.type), "unknown")),
            parsed_results=details.pop("parsed_results", None),
            execution_chain=details.pop("execution_chain", None),
            final_result=details.pop("final_result", None),
        )
        return {**details, **view}

    async def set_status(self, conversation_id: str, user_id: str, status: ConversationStatus) -> None:
        def change(session: Session) -> None:
            row = require_owner(ConversationRepository(session).get(conversation_id), conversation_id, user_id)
            row.status = status
            row.updated_at = utcnow()

        await self._db.run_write(change)

    async def set_title(self, conversation_id: str, user_id: str, title: str) -> str:
        title = title.strip()
        if not title:
            raise InvalidInputError("title is empty: send the new title (at most 100 characters).")
        await self._edit(conversation_id, user_id, title=title)
        return title

    async def set_tags(self, conversation_id: str, user_id: str, tags: builtins.list[str]) -> builtins.list[str]:
        await self._edit(conversation_id, user_id, tags=tags)
        return tags

    async def delete_permanently(self, conversation_id: str, user_id: str) -> None:
        """Delete the conversation, every round and message, and every file it produced."""

        def delete(session: Session) -> None:
            repo = ConversationRepository(session)
            self._owned_for_change(repo, conversation_id, user_id)
            repo.delete(conversation_id)

        await self._db.run_write(delete)
        files = conversation_files_dir(self._data_dir, conversation_id)
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(files, ignore_errors=True))

    async def compact(
        self, conversation_id: str, user_id: str, compact_type: CompactType, model_name: str | None, threshold: int
    ) -> CompactionResult:
        """Shorten a chat's stored history (reference §1.8, with its weaknesses fixed). Waits for a
        turn in progress on the conversation to finish first."""
        llm = await self._models.client(model_name) if compact_type == "precise" and model_name else None
        if compact_type == "precise" and llm is None:
            raise InvalidInputError("model_name is required for a precise compaction: it writes the summaries.")
        async with self._locks.hold(conversation_id):

            def load(session: Session) -> builtins.list[tuple[RoundRow, list[MessageRow]]]:
                repo = ConversationRepository(session)
                row = self._owned_for_change(repo, conversation_id, user_id)
                if row.type != ConversationType.CHAT:
                    raise ConflictError(
                        f"Conversation '{conversation_id}' is a {row.type} conversation; only chats can be compacted."
                    )
                return repo.rounds_with_messages(conversation_id)

            stored = await self._db.run_read(load)
            rounds = [[row_to_message(message) for message in messages] for _round, messages in stored]
            if llm is None:
                result = brutal_compact(rounds)
            else:
                result = await precise_compact(
                    rounds, make_llm_summariser(llm), threshold=threshold, concurrency=SUMMARY_CONCURRENCY
                )
            if result.changed:
                await self._replace_rounds(conversation_id, result, compact_type)
        return result

    async def _replace_rounds(self, conversation_id: str, result: CompactionResult, compact_type: str) -> None:
        def replace(session: Session) -> None:
            repo = ConversationRepository(session)
            row = repo.get(conversation_id, for_update=True)
            if row is None:
                raise NotFoundError(f"Conversation '{conversation_id}' was deleted during the compaction.")
            repo.delete_rounds(conversation_id)
            for number, messages in enumerate(result.rounds, start=1):
                round_id = repo.insert_round(
                    conversation_id, number, {"compacted": compact_type}, status=RoundStatus.COMPLETED
                )
                repo.insert_messages(conversation_id, round_id, 0, messages)
            row.round_count = len(result.rounds)
            if result.usage.total_tokens:
                add_auxiliary_usage(row, result.usage)
            row.updated_at = utcnow()

        await self._db.run_write(replace)

    async def _edit(self, conversation_id: str, user_id: str, **changes: Any) -> None:
        """Set ``changes`` on a conversation that is the user's and not in the trash."""

        def edit(session: Session) -> None:
            row = require_owner(ConversationRepository(session).get(conversation_id), conversation_id, user_id)
            require_not_in_trash(row)
            for name, value in changes.items():
                setattr(row, name, value)
            row.updated_at = utcnow()

        await self._db.run_write(edit)

    @staticmethod
    def _owned_for_change(repo: ConversationRepository, conversation_id: str, user_id: str) -> ConversationRow:
        return require_owner(repo.get(conversation_id, for_update=True), conversation_id, user_id)
