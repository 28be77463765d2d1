"""Per-model call slots: a model's ``max_concurrency`` bounds the LLM calls in flight to it from this
instance, chat turns and graph runs together (SPEC §6).

A slot is held for one call (one HTTP request and its streamed reply, retries included), never for a
whole chat turn or graph node: between its calls a node may run tools that call the same model
(directly or through maghub's own API), and those must not wait on a slot their caller holds, so a
limit of 1 serialises calls without deadlock.
"""

from __future__ import annotations

import math

import anyio

MAX_MODEL_CONCURRENCY = 10_000
"""The highest ``max_concurrency`` a model may have: far above any provider's limit, low enough to
catch a typo."""


class ModelSlots:
    """The call slots of one model; the limit follows the model's configuration as it changes (calls
    already holding a slot keep it)."""

    def __init__(self, limit: int | None) -> None:
        self._limiter = anyio.CapacityLimiter(math.inf)
        self.limit = limit

    @property
    def limit(self) -> int | None:
        total = self._limiter.total_tokens
        return None if total == math.inf else int(total)

    @limit.setter
    def limit(self, limit: int | None) -> None:
        total = math.inf if limit is None else limit
        if self._limiter.total_tokens != total:
            self._limiter.total_tokens = total  # a raise wakes waiters; a lower limit applies as calls end

    def try_take(self, holder: object) -> bool:
        """Take a slot for ``holder`` if one is free now."""
        try:
            self._limiter.acquire_on_behalf_of_nowait(holder)
        except anyio.WouldBlock:
            return False
        return True

    async def take(self, holder: object) -> None:
        """Wait for a slot for ``holder`` (any unique object; one task may hold several slots)."""
        await self._limiter.acquire_on_behalf_of(holder)

    def give_back(self, holder: object) -> None:
        self._limiter.release_on_behalf_of(holder)

    @property
    def in_use(self) -> int:
        return self._limiter.borrowed_tokens

    @property
    def waiting(self) -> int:
        return self._limiter.statistics().tasks_waiting
