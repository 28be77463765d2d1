"""When and how long to wait before trying an LLM request again."""

from __future__ import annotations

import random
from dataclasses import dataclass

from maghub.llm.errors import LLMError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, deferring to the provider's ``Retry-After``.

    A ``Retry-After`` longer than ``max_retry_after`` ends the retries instead of being
    shortened: retrying earlier than the provider asked would only fail again, and a user waiting
    on a chat is better served by a prompt error that says "rate limited".
    """

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 20.0

    def delay(self, retries_done: int, error: LLMError) -> float | None:
        """Seconds to wait before the next attempt, or None to give up and raise ``error``."""
        if retries_done >= self.max_retries or not error.retryable:
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_retry_after else None
        backoff = min(self.base_delay * 2.0**retries_done, self.max_delay)
        # Jitter spreads the retries of many concurrent calls that failed together (one outage).
        return backoff * random.uniform(0.5, 1.0)
