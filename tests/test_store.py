"""The database layer on SQLite and PostgreSQL: migrations match the tables (and are skipped when
there is nothing to do), conversations are append-only and delete completely."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import UTC

import anyio
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Connection

from maghub.store.database import Database
from maghub.store.migrate import alembic_config, head_revision, schema_is_current
from maghub.store.repositories.conversations import ConversationRepository, row_to_message
from maghub.store.tables import Base, ConversationRow, MessageRow, RoundRow


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await db.migrate()
    yield db
    await db.dispose()


async def test_migrations_create_exactly_the_orm_schema(database: Database) -> None:
    def differences(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with database.engine.connect() as conn:
        assert await conn.run_sync(differences) == []
    await database.migrate()  # idempotent


def test_the_head_revision_read_from_the_scripts_is_alembics() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_an_older_schema_is_upgraded(database: Database) -> None:
    def downgrade_one(connection: Connection) -> None:
        command.downgrade(alembic_config(connection), "-1")

    def tables(sync: Connection) -> set[str]:
        return set(inspect(sync).get_table_names())

    async with database.engine.begin() as conn:
        assert await conn.run_sync(schema_is_current)
        at_head = await conn.run_sync(tables)
        await conn.run_sync(downgrade_one)
        assert not await conn.run_sync(schema_is_current)
        assert await conn.run_sync(tables) < at_head  # the newest migration's tables are gone
    await database.migrate()
    async with database.engine.connect() as conn:
        assert await conn.run_sync(schema_is_current)
        assert await conn.run_sync(tables) == at_head


async def test_a_current_schema_is_not_handed_to_alembic(database: Database, database_url: str) -> None:
    # In a fresh process: this one has imported Alembic long ago.
    code = (
        "import asyncio, sys\n"
        "from maghub.store.database import Database\n"
        "async def main():\n"
        f"    database = Database({database_url!r})\n"
        "    await database.migrate()\n"
        "    await database.dispose()\n"
        "asyncio.run(main())\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'alembic'))\n"
    )
    migrated = await anyio.run_process([sys.executable, "-c", code], check=False)
    assert migrated.returncode == 0, migrated.stderr.decode()
    assert migrated.stdout.decode().strip() == "[]"


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
    from datetime import datetime, timedelta

    start = datetime(2026, 1, 1, tzinfo=UTC)
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
