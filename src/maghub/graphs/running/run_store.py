"""How graph runs are stored: a conversation of type ``graph``, one round per node execution
(SPEC §6 Durability), written as it happens — the start of a node, each completed LLM call and
tool result, the node's end with its output (and with its last LLM call, which ends it).
Everything a resume needs is in the rounds; the conversation row only carries the run's status
and result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maghub.errors import ConflictError
from maghub.llm.types import Usage
from maghub.store.database import Database
from maghub.store.repositories.conversations import ConversationRepository, OpenRound, row_to_message
from maghub.store.tables import ConversationRow, RoundRow, utcnow

START_NODE = "start"


@dataclass
class StoredRound:
    number: int
    status: str
    details: dict[str, Any]
    messages: list[dict[str, Any]]
    error: str | None


@dataclass
class StoredRun:
    conversation: ConversationRow
    rounds: list[StoredRound] = field(default_factory=list)

    @property
    def details(self) -> dict[str, Any]:
        return self.conversation.details

    @property
    def turn(self) -> int:
        return int(self.details.get("turn") or 0)

    def turn_rounds(self, turn: int | None = None) -> list[StoredRound]:
        wanted = self.turn if turn is None else turn
        return [r for r in self.rounds if r.details.get("turn") == wanted]


class RunStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def load(self, conversation_id: str) -> StoredRun | None:
        def load(session: Session) -> StoredRun | None:
            repo = ConversationRepository(session)
            row = repo.get(conversation_id)
            if row is None:
                return None
            rounds = [
                StoredRound(r.number, r.status, dict(r.details), [row_to_message(m) for m in messages], r.error)
                for r, messages in repo.rounds_with_messages(conversation_id)
            ]
            return StoredRun(row, rounds)

        return await self._db.run_read(load)

    async def create(self, conversation_id: str, user_id: str, graph_name: str, input_text: str) -> None:
        title = f"{graph_name}: {input_text.strip().splitlines()[0][:60]}" if input_text.strip() else graph_name
        try:
            await self._db.run_write(
                lambda session: ConversationRepository(session).insert_conversation(
                    conversation_id,
                    user_id,
                    "graph",
                    title[:200],
                    tags=["Agent graph"],
                    details={"graph_name": graph_name, "turn": 0, "run_status": "running"},
                )
            )
        except IntegrityError as exc:  # a client-chosen id that another request (or process) just took
            raise ConflictError(f"Conversation '{conversation_id}' already exists; choose another id.") from exc

    async def start_turn(self, conversation_id: str, turn: int, number: int, input_text: str) -> None:
        """Record a new turn: the run's input as the turn's ``start`` round."""
        details = {"node_name": START_NODE, "level": 0, "turn": turn, "kind": START_NODE}

        def start(session: Session) -> None:
            repo = ConversationRepository(session)
            round_id = repo.insert_round(conversation_id, number, details, status="completed")
            repo.insert_message(conversation_id, round_id, 0, {"role": "user", "content": input_text})
            _update_details(
                session,
                conversation_id,
                turn=turn,
                run_status="running",
                final_result=None,
                execution_chain=[],
                error=None,
            )

        await self._db.run_write(start)

    async def begin_node(
        self, conversation_id: str, number: int, details: dict[str, Any], messages: list[dict[str, Any]]
    ) -> OpenRound:
        def begin(session: Session) -> OpenRound:
            repo = ConversationRepository(session)
            round_id = repo.insert_round(conversation_id, number, details)
            repo.insert_messages(conversation_id, round_id, 0, messages)
            return OpenRound(conversation_id, round_id, number, next_position=len(messages))

        return await self._db.run_write(begin)

    async def record_node(self, conversation_id: str, number: int, details: dict[str, Any]) -> None:
        """A node execution that was over as soon as it began (a pass-through node): one completed round."""
        await self._db.run_write(
            lambda session: ConversationRepository(session).insert_round(
                conversation_id, number, details, status="completed"
            )
        )

    async def append(self, opened: OpenRound, message: dict[str, Any], usage: Usage | None = None) -> None:
        def append_(session: Session) -> None:
            repo = ConversationRepository(session)
            repo.insert_message(opened.conversation_id, opened.round_id, opened.next_position, message)
            if usage is not None:
                repo.record_progress(opened.conversation_id, opened.round_id, usage=usage)

        await self._db.run_write(append_)
        opened.next_position += 1

    async def end_node(
        self,
        opened: OpenRound,
        status: str,
        details: dict[str, Any],
        error: str | None = None,
        *,
        last: dict[str, Any] | None = None,
        usage: Usage | None = None,
    ) -> None:
        """End the round; ``last`` is a final message (with its call's ``usage``) stored in the same transaction."""

        def end(session: Session) -> None:
            repo = ConversationRepository(session)
            if last is not None:
                repo.insert_message(opened.conversation_id, opened.round_id, opened.next_position, last)
            repo.end_round(opened.conversation_id, opened.round_id, status, details, error, usage=usage)

        await self._db.run_write(end)
        if last is not None:
            opened.next_position += 1

    async def finish(
        self, conversation_id: str, status: str, final_result: str | None, chain: list[list[str]], error: str | None
    ) -> None:
        await self._db.run_write(
            lambda session: _update_details(
                session,
                conversation_id,
                run_status=status,
                final_result=final_result,
                execution_chain=chain,
                error=error,
            )
        )

    async def mark_interrupted(self, conversation_id: str, reason: str) -> None:
        """Rounds left running by a process that died are interrupted; so is the run."""

        def mark(session: Session) -> None:
            session.execute(
                update(RoundRow)
                .where(RoundRow.conversation_id == conversation_id, RoundRow.status == "running")
                .values(status="interrupted", error=reason, updated_at=utcnow())
            )
            _update_details(session, conversation_id, run_status="interrupted", error=reason)

        await self._db.run_write(mark)


def _update_details(session: Session, conversation_id: str, **changes: Any) -> None:
    row = ConversationRepository(session).get(conversation_id, for_update=True)
    if row is not None:
        row.details = {**row.details, **changes}
        row.updated_at = utcnow()
