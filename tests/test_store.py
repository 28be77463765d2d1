"""The database layer on SQLite and PostgreSQL: migrations match the tables (and are skipped when
there is nothing to do), conversations are append-only and delete completely."""

from __future__ import annotations

import asyncio
import functools
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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

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

    def columns(sync: Connection) -> set[tuple[str, str]]:
        inspector = inspect(sync)
        tables = inspector.get_table_names()
        return {(table, column["name"]) for table in tables for column in inspector.get_columns(table)}

    async with database.engine.begin() as conn:
        assert await conn.run_sync(schema_is_current)
        at_head = await conn.run_sync(columns)
        await conn.run_sync(downgrade_one)
        assert not await conn.run_sync(schema_is_current)
        assert await conn.run_sync(columns) < at_head  # what the newest migration added is gone
    await database.migrate()
    async with database.engine.connect() as conn:
        assert await conn.run_sync(schema_is_current)
        assert await conn.run_sync(columns) == at_head


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

    def write(session: Session) -> None:
        repo = ConversationRepository(session)
        repo.insert_conversation("c1", "u1", "chat", "t")
        first = repo.insert_round("c1", 1)
        repo.insert_message("c1", first, 0, {"role": "user", "content": "hi"})
        repo.insert_messages(
            "c1",
            first,
            1,
            [
                {"role": "assistant", "content": None, "tool_calls": [tool_call], "reasoning_content": "thinking"},
                {"role": "tool", "tool_call_id": "call_1", "content": "ok", "name": "echo"},
            ],
        )
        second = repo.insert_round("c1", 2, {"node_name": "writer", "level": 2})
        repo.insert_message("c1", second, 0, {"role": "assistant", "content": "done"})

    def read(session: Session) -> None:
        repo = ConversationRepository(session)
        rounds = repo.rounds_with_messages("c1")
        assert [r.number for r, _ in rounds] == [1, 2] and rounds[1][0].details["node_name"] == "writer"
        assert [row_to_message(m) for m in rounds[0][1]] == [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "reasoning_content": "thinking", "tool_calls": [tool_call]},
            {"role": "tool", "content": "ok", "tool_call_id": "call_1", "name": "echo"},
        ]
        assert repo.get("c1").round_count == 2

    await database.run_write(write)
    await database.run_read(read)
    assert await database.run_write(lambda session: ConversationRepository(session).delete("c1"))
    async with database.read() as session:
        for table in (RoundRow, MessageRow):
            assert await session.scalar(select(func.count()).select_from(table)) == 0


async def test_rounds_opened_out_of_order_count_up_to_the_highest(database: Database) -> None:
    """Concurrent graph nodes open their rounds in concurrent transactions, which may commit in any
    order: the count is the highest number, so the next round never reuses one."""
    await database.run_write(
        lambda session: ConversationRepository(session).insert_conversation("c1", "u1", "graph", "t")
    )
    for number in (1, 3, 2):
        await database.run_write(
            lambda session, number=number: ConversationRepository(session).insert_round("c1", number)
        )

    state = await database.run_read(lambda session: ConversationRepository(session).state("c1"))

    assert state is not None and state.round_count == 3


async def test_a_unit_of_work_that_fails_leaves_nothing_behind(database: Database) -> None:
    def half_then_fail(session: Session) -> None:
        ConversationRepository(session).insert_conversation("half", "u1", "chat", "t")
        raise LookupError("stop here")

    with pytest.raises(LookupError, match="stop here"):
        await database.run_write(half_then_fail)
    assert await database.run_read(lambda session: ConversationRepository(session).get("half")) is None


async def test_a_failing_unit_among_concurrent_ones_fails_alone(database: Database) -> None:
    def create(session: Session, number: int) -> str:
        if number == 3:
            ConversationRepository(session).insert_conversation("c3", "u1", "chat", "t")
            raise LookupError("unit 3 fails after writing")
        ConversationRepository(session).insert_conversation(f"c{number}", "u1", "chat", "t")
        return f"c{number}"

    outcomes = await asyncio.gather(
        *(database.run_write(functools.partial(create, number=n)) for n in range(8)), return_exceptions=True
    )

    assert isinstance(outcomes[3], LookupError)
    assert [o for i, o in enumerate(outcomes) if i != 3] == [f"c{n}" for n in range(8) if n != 3]
    rows, total = await database.run_read(lambda session: ConversationRepository(session).list_for_user("u1"))
    assert total == 7 and "c3" not in {row.id for row in rows}


async def test_a_unit_whose_changes_fail_to_flush_fails_alone(database: Database) -> None:
    """The failure comes when the unit's pending ORM changes are written, after its work returned."""
    await database.run_write(
        lambda session: ConversationRepository(session).insert_conversation("taken", "u1", "chat", "t")
    )

    def create(session: Session, number: int) -> str:
        session.add(ConversationRow(id="taken" if number == 2 else f"d{number}", user_id="u1", title="t"))
        return f"d{number}"

    async with asyncio.timeout(10):  # every caller gets its outcome (a lost one waited forever)
        outcomes = await asyncio.gather(
            *(database.run_write(functools.partial(create, number=n)) for n in range(6)), return_exceptions=True
        )

    assert isinstance(outcomes[2], IntegrityError)
    assert [o for i, o in enumerate(outcomes) if i != 2] == [f"d{n}" for n in range(6) if n != 2]
    _, total = await database.run_read(lambda session: ConversationRepository(session).list_for_user("u1"))
    assert total == 6  # "taken" and the five others


async def test_units_of_work_and_session_writes_see_each_other(database: Database) -> None:
    async with database.write() as session:
        session.add(ConversationRow(id="shared", user_id="u1", title="from a session"))
    row = await database.run_read(lambda session: ConversationRepository(session).get("shared"))
    assert row.title == "from a session"  # a returned row stays readable after its session closed

    def rename(session: Session) -> None:
        ConversationRepository(session).get("shared", for_update=True).title = "from a unit of work"

    await database.run_write(rename)
    async with database.read() as session:
        assert (await session.get(ConversationRow, "shared")).title == "from a unit of work"


async def test_concurrent_units_of_work_are_all_written(database: Database) -> None:
    await database.run_write(lambda session: ConversationRepository(session).insert_conversation("c", "u", "chat", "t"))
    round_id = await database.run_write(lambda session: ConversationRepository(session).insert_round("c", 1))

    async def add(position: int) -> None:
        await database.run_write(
            lambda session: ConversationRepository(session).insert_message(
                "c", round_id, position, {"role": "user", "content": str(position)}
            )
        )

    async with anyio.create_task_group() as writers:
        for position in range(50):
            writers.start_soon(add, position)
    rounds = await database.run_read(lambda session: ConversationRepository(session).rounds_with_messages("c"))
    assert [m.content for m in rounds[0][1]] == [str(p) for p in range(50)]


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

    def read(session: Session) -> None:
        repo = ConversationRepository(session)
        rows, total = repo.list_for_user("u1", statuses={"active", "favorite"}, limit=3, offset=1)
        assert total == 6 and [r.id for r in rows] == ["c4", "c3", "c2"]
        everything, total_all = repo.list_for_user("u1")
        assert total_all == 7 and everything[0].id == "c6"

    await database.run_read(read)
