"""How graph runs are stored: a conversation of type ``graph``, one round per node execution
(SPEC §6 Durability), written as it happens — the start of a node, each completed LLM call and
tool result, the node's end with its output (and with its last LLM call, which ends it).
Everything a resume needs is in the rounds; the conversation row only carries the run's status
and result. What the rows hold is defined once, in :mod:`maghub.graphs.running.state`; the SQL
is the conversation repository's."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from maghub.errors import ConflictError
from maghub.graphs.running.state import NodeRound, RunState, RunStatus
from maghub.states import ConversationType, RoundStatus
from maghub.store.database import Database
from maghub.store.repositories.conversations import ConversationRepository, OpenRound, row_to_message
from maghub.usage import Usage


@dataclass(frozen=True)
class StoredRound:
    number: int
    status: RoundStatus
    node: NodeRound
    messages: list[dict[str, Any]]
    error: str | None


@dataclass(frozen=True)
class StoredRun:
    id: str
    user_id: str
    state: RunState
    round_count: int
    created_at: datetime
    updated_at: datetime
    rounds: list[StoredRound] = field(default_factory=list)

    @property
    def turn(self) -> int:
        return self.state.turn

    def turn_rounds(self, turn: int | None = None) -> list[StoredRound]:
        wanted = self.turn if turn is None else turn
        return [r for r in self.rounds if r.node.turn == wanted]


class RunStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def load(self, conversation_id: str) -> StoredRun | None:
        """The run with every round, or None when there is no graph run ``conversation_id``."""

        def load(session: Session) -> StoredRun | None:
            repo = ConversationRepository(session)
            row = repo.get(conversation_id)
            if row is None or row.type != ConversationType.GRAPH:
                return None
            rounds = [
                StoredRound(
                    r.number,
                    RoundStatus(r.status),
                    NodeRound.from_json(r.details),
                    [row_to_message(m) for m in messages],
                    r.error,
                )
                for r, messages in repo.rounds_with_messages(conversation_id)
            ]
            state = RunState.from_json(conversation_id, row.details)
            return StoredRun(row.id, row.user_id, state, row.round_count, row.created_at, row.updated_at, rounds)

        return await self._db.run_read(load)

    async def kind_of(self, conversation_id: str) -> tuple[str, str] | None:
        """(type, owner) of any conversation with this id: a run's id must not be a chat's."""

        def read(session: Session) -> tuple[str, str] | None:
            row = ConversationRepository(session).get(conversation_id)
            return None if row is None else (str(row.type), row.user_id)

        return await self._db.run_read(read)

    async def create(self, conversation_id: str, user_id: str, graph_name: str, input_text: str) -> None:
        title = f"{graph_name}: {input_text.strip().splitlines()[0][:60]}" if input_text.strip() else graph_name
        try:
            await self._db.run_write(
                lambda session: ConversationRepository(session).insert_conversation(
                    conversation_id,
                    user_id,
                    ConversationType.GRAPH,
                    title[:200],
                    tags=["Agent graph"],
                    details=RunState(graph_name).to_json(),
                )
            )
        except IntegrityError as exc:  # a client-chosen id that another request (or process) just took
            raise ConflictError(f"Conversation '{conversation_id}' already exists; choose another id.") from exc

    async def start_turn(self, conversation_id: str, turn: int, number: int, input_text: str) -> None:
        """Record a new turn: the run's input as the turn's ``start`` round."""

        def start(session: Session) -> None:
            repo = ConversationRepository(session)
            round_id = repo.insert_round(
                conversation_id, number, NodeRound.start(turn).to_json(), status=RoundStatus.COMPLETED
            )
            repo.insert_message(conversation_id, round_id, 0, {"role": "user", "content": input_text})
            _change_state(
                repo,
                conversation_id,
                turn=turn,
                status=RunStatus.RUNNING,
                final_result=None,
                execution_chain=[],
                error=None,
            )

        await self._db.run_write(start)

    async def begin_node(
        self, conversation_id: str, number: int, node: NodeRound, messages: list[dict[str, Any]]
    ) -> OpenRound:
        def begin(session: Session) -> OpenRound:
            repo = ConversationRepository(session)
            round_id = repo.insert_round(conversation_id, number, node.to_json())
            repo.insert_messages(conversation_id, round_id, 0, messages)
            return OpenRound(conversation_id, round_id, number, next_position=len(messages))

        return await self._db.run_write(begin)

    async def record_node(self, conversation_id: str, number: int, node: NodeRound) -> None:
        """A node execution that was over as soon as it began (a pass-through node): one completed round."""
        await self._db.run_write(
            lambda session: ConversationRepository(session).insert_round(
                conversation_id, number, node.to_json(), status=RoundStatus.COMPLETED
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
        status: RoundStatus,
        node: NodeRound,
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
            repo.end_round(opened.conversation_id, opened.round_id, status, node.to_json(), error, usage=usage)

        await self._db.run_write(end)
        if last is not None:
            opened.next_position += 1

    async def finish(
        self,
        conversation_id: str,
        status: RunStatus,
        final_result: str | None,
        chain: list[list[str]],
        error: str | None,
    ) -> None:
        await self._db.run_write(
            lambda session: _change_state(
                ConversationRepository(session),
                conversation_id,
                status=status,
                final_result=final_result,
                execution_chain=chain,
                error=error,
            )
        )

    async def mark_interrupted(self, conversation_id: str, reason: str) -> None:
        """Rounds left running by a process that died are interrupted; so is the run."""

        def mark(session: Session) -> None:
            repo = ConversationRepository(session)
            repo.interrupt_running_rounds(conversation_id, reason)
            _change_state(repo, conversation_id, status=RunStatus.INTERRUPTED, error=reason)

        await self._db.run_write(mark)


def _change_state(repo: ConversationRepository, conversation_id: str, **changes: Any) -> None:
    """Apply ``changes`` (fields of :class:`RunState`) to the stored run state, in the repository's transaction."""
    stored = repo.details_for_update(conversation_id)
    if stored is not None:
        state = dataclasses.replace(RunState.from_json(conversation_id, stored), **changes)
        repo.set_details(conversation_id, state.to_json())
