"""The database layer on SQLite and PostgreSQL: migrations match the tables, conversations are
append-only and delete completely."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from maghub.store.database import Database
from maghub.store.repositories.conversations import ConversationRepository, row_to_message
from maghub.store.tables import Base, ConversationRow, MessageRow, RoundRow


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await db.migrate()
    yield db
    await db.dispose()


async def test_migrations_create_exactly_the_orm_schema(database: Database) -> None:
    def differences(connection):  # noqa: ANN001, ANN202
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with database.engine.connect() as conn:
        assert await conn.run_sync(differences) == []
    await database.migrate()  # idempotent


async def test_rounds_and_messages_append_in_order_and_delete_with_the_conversation(database: Database) -> None:
    tool_call = {"id": "call_1", "type": "function", "function": {"name": "echo", "arguments": "{}"}}
    async with database.write() as session:
        repo = ConversationRepository(session)
        conversation = ConversationRow(id="c1", user_id="u1", title="t")
        repo.add(conversation)
        await session.flush()
        first = await repo.start_round(conversation)
        await repo.append_message(first, {"role": "user", "content": "hi"})
        await repo.append_message(
            first, {"role": "assistant", "content": None, "tool_calls": [tool_call], "reasoning_content": "thinking"}
        )
        await repo.append_message(first, {"role": "tool", "tool_call_id": "call_1", "content": "ok", "name": "echo"})
        second = await repo.start_round(conversation, {"node_name": "writer", "level": 2})
        await repo.append_message(second, {"role": "assistant", "content": "done"})
    async with database.read() as session:
        repo = ConversationRepository(session)
        rounds = await repo.rounds_with_messages("c1")
        assert [r.number for r, _ in rounds] == [1, 2] and rounds[1][0].details["node_name"] == "writer"
        assert [row_to_message(m) for m in rounds[0][1]] == [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "reasoning_content": "thinking", "tool_calls": [tool_call]},
            {"role": "tool", "content": "ok", "tool_call_id": "call_1", "name": "echo"},
        ]
        assert (await repo.get("c1")).round_count == 2
    async with database.write() as session:
        assert await ConversationRepository(session).delete("c1")
    async with database.read() as session:
        for table in (RoundRow, MessageRow):
            assert await session.scalar(select(func.count()).select_from(table)) == 0


async def test_listing_is_per_user_newest_first_with_a_real_total(database: Database) -> None:
    from datetime import datetime, timedelta, timezone

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    async with database.write() as session:
        for i in range(7):
            status = "deleted" if i == 6 else "active"
            session.add(
                ConversationRow(id=f"c{i}", user_id="u1", status=status, updated_at=start + timedelta(minutes=i))
            )
        session.add(ConversationRow(id="other", user_id="u2"))
    async with database.read() as session:
        repo = ConversationRepository(session)
        rows, total = await repo.list_for_user("u1", statuses={"active", "favorite"}, limit=3, offset=1)
        assert total == 6 and [r.id for r in rows] == ["c4", "c3", "c2"]
        everything, total_all = await repo.list_for_user("u1")
        assert total_all == 7 and everything[0].id == "c6"
