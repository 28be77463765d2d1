"""The per-conversation locks and their release clock: a reading taken before a lock is held
tells whether anybody held the lock in between."""

from __future__ import annotations

import asyncio

import pytest

from maghub.chat.locks import KeyedLocks


async def test_nobody_held_the_lock_since_the_reading() -> None:
    locks = KeyedLocks()
    async with locks.hold("other"):
        pass
    reading = locks.now()
    async with locks.hold("a"):
        assert not locks.released_since("a", reading)


async def test_a_turn_that_ran_in_between_is_seen_while_it_still_has_waiters() -> None:
    locks = KeyedLocks()
    first_holds, reading_taken = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with locks.hold("a"):
            first_holds.set()
            await reading_taken.wait()

    task = asyncio.create_task(first())
    await first_holds.wait()
    reading = locks.now()
    reading_taken.set()
    async with locks.hold("a"):  # waits for the first holder
        assert locks.released_since("a", reading)
    await task


async def test_a_turn_that_ran_and_was_forgotten_in_between_is_seen() -> None:
    locks = KeyedLocks()
    reading = locks.now()
    async with locks.hold("a"):
        pass
    assert not locks.busy("a")  # its entry is gone
    async with locks.hold("a"):
        assert locks.released_since("a", reading)


async def test_a_holder_that_failed_counts_as_a_release() -> None:
    locks = KeyedLocks()
    reading = locks.now()
    with pytest.raises(RuntimeError):
        async with locks.hold("a"):
            raise RuntimeError("the turn failed")
    async with locks.hold("a"):
        assert locks.released_since("a", reading)


async def test_without_holding_the_lock_the_answer_is_conservative() -> None:
    locks = KeyedLocks()
    assert locks.released_since("a", locks.now())
