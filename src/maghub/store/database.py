"""The database handle: engine, sessions for reads and writes, units of work, migrations at startup."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, nullcontext, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from maghub.errors import ConfigurationError, UnavailableError
from maghub.storable import json_for_storage, parameters_for_storage
from maghub.store.migrate import schema_is_current, upgrade_to_head

log = logging.getLogger(__name__)

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
SQLITE_READER_THREADS = 4
SQLITE_WRITE_BATCH = 64  # units of work committed together at most

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
        engine_args: dict[str, Any] = {"echo": echo, "json_serializer": json_for_storage}
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
        _store_text_alike(self.engine.sync_engine)
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
        async with self._write_lock or nullcontext(), self._writer() as session, session.begin():
            yield session

    async def run_read(self, work: Callable[[Session], T]) -> T:
        """``work(session)`` in a read-only session; returns what it returns (ORM rows stay usable:
        nothing expires)."""
        if self._threaded is not None:
            return await self._threaded.run(work, write=False)
        async with self._reader() as session:
            return await session.run_sync(work)

    async def run_write(self, work: Callable[[Session], T]) -> T:
        """``work(session)`` in a transaction, committed when it returns, rolled back when it raises.

        On SQLite, units queued together are committed together, each in a savepoint; they do not
        take the lock of :meth:`write` (SQLite's own lock keeps the two kinds of writers apart,
        and :meth:`write` is for rare changes)."""
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
    """The same SQLite file through the standard driver, for units of work run in threads: a few
    reader threads (WAL lets them read while a write is going on) and one writer thread.

    The writer commits what is queued together (group commit): each unit in a savepoint of its
    own, so that one that fails is rolled back alone, and all in one transaction, whose commit and
    wake-up of the event loop they share. Under load this turns many small transactions, each a
    round trip between the event loop and the thread, into a few. Measured by ``bench/chat_stream.py``
    (stored chats) and ``bench/graph_fanout.py`` (per-node overhead)."""

    def __init__(self, url: URL) -> None:
        self.engine = create_engine(
            url.set(drivername="sqlite"),
            connect_args={"timeout": 30, "check_same_thread": False},
            json_serializer=json_for_storage,
        )
        _configure_sqlite(self.engine)
        _store_text_alike(self.engine)
        self._readers = sessionmaker(self.engine, expire_on_commit=False)
        self._writers = sessionmaker(self.engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False)
        self._read_threads = ThreadPoolExecutor(SQLITE_READER_THREADS, thread_name_prefix="maghub-sqlite-read")
        self._writes: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._closed = False
        self._writer = threading.Thread(target=self._write_queued, name="maghub-sqlite-write", daemon=True)
        self._writer.start()

    async def run(self, work: Callable[[Session], T], *, write: bool) -> T:
        loop = asyncio.get_running_loop()
        if not write:
            return await loop.run_in_executor(self._read_threads, self._read, work)
        if self._closed:  # the writer thread is gone: the write would wait forever
            raise UnavailableError("The database is closed: maghub is shutting down.")
        done: asyncio.Future[T] = loop.create_future()
        self._writes.put(_Write(work, done))
        return await done

    def _read(self, work: Callable[[Session], T]) -> T:
        with self._readers() as session:
            return work(session)

    def _write_queued(self) -> None:
        while (first := self._writes.get()) is not None:
            batch = [first]
            stop = False
            while len(batch) < SQLITE_WRITE_BATCH:
                try:
                    queued = self._writes.get_nowait()
                except queue.Empty:
                    break
                if queued is None:
                    stop = True
                    break
                batch.append(queued)
            _settle(self._commit(batch))
            if stop:
                return

    def _commit(self, batch: list[_Write]) -> list[tuple[_Write, Any, BaseException | None]]:
        outcomes: list[tuple[_Write, Any, BaseException | None]] = []
        try:
            with self._writers() as session, session.begin():
                for write in batch:
                    try:
                        with session.begin_nested():  # leaving it flushes: that can fail too
                            result = write.work(session)
                    except Exception as exc:  # noqa: BLE001  # this unit's own failure, delivered to its caller
                        outcomes.append((write, None, exc))
                    else:
                        outcomes.append((write, result, None))
        except Exception as exc:  # noqa: BLE001  # the transaction as a whole failed: nothing of the batch is stored
            return [(write, None, exc) for write in batch]
        return outcomes

    def close(self) -> None:
        self._closed = True
        self._writes.put(None)
        self._writer.join()
        self._read_threads.shutdown()
        self.engine.dispose()


@dataclass
class _Write:
    work: Callable[[Session], Any]
    done: asyncio.Future[Any]


def _settle(outcomes: list[tuple[_Write, Any, BaseException | None]]) -> None:
    """Hand the outcomes to the callers' event loops, one wake-up per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Write, Any, BaseException | None]]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].done.get_loop(), []).append(outcome)
    for loop, settled in by_loop.items():
        with suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_resolve, settled)


def _resolve(outcomes: list[tuple[_Write, Any, BaseException | None]]) -> None:
    for write, result, error in outcomes:
        if write.done.done():  # cancelled by its caller
            continue
        if error is None:
            write.done.set_result(result)
        else:
            write.done.set_exception(error)


def _is_memory_sqlite(url: URL) -> bool:
    """An in-memory database exists only in its own connection: no second driver can share it."""
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def _store_text_alike(sync_engine: Any) -> None:
    """NUL characters in text become U+FFFD on every backend (PostgreSQL refuses them, SQLite keeps
    them): requests are refused at the edge, so this only meets what models and tools produced."""

    @event.listens_for(sync_engine, "before_cursor_execute", retval=True)
    def _without_nul(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _executemany: bool
    ) -> tuple[str, Any]:
        return statement, parameters_for_storage(parameters)


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
