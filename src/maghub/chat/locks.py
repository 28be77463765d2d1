"""One lock per key, created on demand and dropped when nobody holds or waits for it.

The locks also keep a clock of releases, so that something read before taking a key's lock can
be reused after taking it when nobody held the lock meanwhile (e.g. a chat's history, read once
to check the request and then used for the turn)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass


@dataclass
class _Entry:
    lock: asyncio.Lock
    users: int
    released_at: int
    """The clock when this lock was last released (or, for a new entry, when a lock of any key was
    last dropped: an earlier lock of the same key may be among them)."""


class KeyedLocks:
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._clock = 0
        self._last_drop = 0

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(asyncio.Lock(), 0, self._last_drop)
        entry.users += 1
        try:
            async with entry.lock:
                try:
                    yield
                finally:
                    self._clock += 1
                    entry.released_at = self._clock
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._entries[key]
                self._last_drop = self._clock

    def busy(self, key: str) -> bool:
        return key in self._entries

    def now(self) -> int:
        """A reading of the clock, for :meth:`released_since`."""
        return self._clock

    def released_since(self, key: str, reading: int) -> bool:
        """Whether ``key``'s lock may have been released after ``reading`` was taken; call it while
        holding the lock. False means nobody held it in between."""
        entry = self._entries.get(key)
        return entry is None or entry.released_at > reading
