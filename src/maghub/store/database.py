"""The database handle: engine, sessions for reads and writes, units of work, migrations at startup."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, nullcontext
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from maghub.errors import ConfigurationError
from maghub.store.migrate import schema_is_current, upgrade_to_head

log = logging.getLogger(__name__)

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
SQLITE_READER_THREADS = 4

T = TypeVar("T")


class Database:
    """One engine per process.

    Writes go through :meth:`write` or :meth:`run_write`, which on SQLite take an in-process lock
    and start the transaction with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then
    writes can fail with "database is locked" when another writer got there first, and the lock
    keeps writers from sleeping in SQLite's busy handler.

    Units of work (:meth:`run_read`, :meth:`run_write`) are plain functions of a synchronous ORM
    session, for the hot paths (chat turns, graph nodes). On SQLite they run whole in a worker
    thread on the standard ``sqlite3`` driver: aiosqlite hands every statement, fetch and commit to
    its own thread and back, and those hand-offs (each a GIL switch) cost more than the SQL. On
    PostgreSQL they run on the async session (``run_sync``), so asyncpg stays in charge.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise ConfigurationError(f"Invalid database URL {url!r}: {exc}") from exc
        if parsed.drivername not in SUPPORTED_DRIVERS:
            raise ConfigurationError(
                f"Unsupported database URL scheme {parsed.drivername!r}: use sqlite+aiosqlite:///path/to.db "
                "or postgresql+asyncpg://user:password@host:5432/dbname"
            )
        self.dialect = parsed.get_backend_name()
        self.safe_url = parsed.render_as_string(hide_password=True)
        engine_args: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            engine_args["connect_args"] = {"timeout": 30}
        else:
            engine_args.update(pool_pre_ping=True, pool_size=10, max_overflow=20)
        try:
            self.engine = create_async_engine(url, **engine_args)
        except NoSuchModuleError as exc:  # pragma: no cover - both drivers are dependencies
            raise ConfigurationError(f"No driver for {self.safe_url}: {exc}") from exc
        if self.is_sqlite:
            _configure_sqlite(self.engine.sync_engine)
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer = async_sessionmaker(
            self.engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False
        )
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._threaded: _ThreadedSQLite | None = None
        if self.is_sqlite and not _is_memory_sqlite(parsed):
            self._threaded = _ThreadedSQLite(parsed)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction, committed on success and rolled back on any error."""
        async with self._write_lock or nullcontext():
            async with self._writer() as session, session.begin():
                yield session

    async def run_read(self, work: Callable[[Session], T]) -> T:
        """``work(session)`` in a read-only session; returns what it returns (ORM rows stay usable:
        nothing expires)."""
        if self._threaded is not None:
            return await self._threaded.run(work, write=False)
        async with self._reader() as session:
            return await session.run_sync(work)

    async def run_write(self, work: Callable[[Session], T]) -> T:
        """``work(session)`` in one transaction, committed when it returns, rolled back when it raises."""
        async with self._write_lock or nullcontext():
            if self._threaded is not None:
                return await self._threaded.run(work, write=True)
            async with self._writer() as session, session.begin():
                return await session.run_sync(work)

    async def check_connection(self) -> None:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            raise ConfigurationError(f"Cannot connect to the database {self.safe_url}: {exc}") from exc

    async def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic), safe to run from several processes; a
        schema that is there already costs one query."""
        await self.check_connection()
        async with self.engine.begin() as conn:
            if not await conn.run_sync(schema_is_current):
                await conn.run_sync(upgrade_to_head)

    async def dispose(self) -> None:
        if self._threaded is not None:
            await asyncio.to_thread(self._threaded.close)
        await self.engine.dispose()


class _ThreadedSQLite:
    """The same SQLite file through the standard driver, for units of work run in threads: one
    writer thread (writes are serialised anyway) and a few reader threads (WAL lets them read
    while a write is going on)."""

    def __init__(self, url: URL) -> None:
        self.engine = create_engine(
            url.set(drivername="sqlite"), connect_args={"timeout": 30, "check_same_thread": False}
        )
        _configure_sqlite(self.engine)
        self._readers = sessionmaker(self.engine, expire_on_commit=False)
        self._writers = sessionmaker(self.engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False)
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="maghub-sqlite-write")
        self._read_threads = ThreadPoolExecutor(SQLITE_READER_THREADS, thread_name_prefix="maghub-sqlite-read")

    async def run(self, work: Callable[[Session], T], *, write: bool) -> T:
        loop = asyncio.get_running_loop()
        if write:
            return await loop.run_in_executor(self._write_thread, self._write, work)
        return await loop.run_in_executor(self._read_threads, self._read, work)

    def _read(self, work: Callable[[Session], T]) -> T:
        with self._readers() as session:
            return work(session)

    def _write(self, work: Callable[[Session], T]) -> T:
        with self._writers() as session, session.begin():
            return work(session)

    def close(self) -> None:
        self._write_thread.shutdown()
        self._read_threads.shutdown()
        self.engine.dispose()


def _is_memory_sqlite(url: URL) -> bool:
    """An in-memory database exists only in its own connection: no second driver can share it."""
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def _configure_sqlite(sync_engine: Any) -> None:
    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN itself, so it can choose IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
