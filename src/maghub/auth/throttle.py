"""Slows down password guessing: after repeated failures, a (username, client address) pair waits."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

from maghub.errors import TooManyRequestsError


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0
    lockouts: int = 0


class LoginThrottle:
    """``max_failures`` failed logins within ``window`` seconds lock the pair out; each further lockout
    doubles, from ``base_lockout`` up to ``max_lockout``. Kept in memory, bounded in size."""

    def __init__(
        self,
        max_failures: int = 5,
        window: float = 300.0,
        base_lockout: float = 30.0,
        max_lockout: float = 900.0,
        max_entries: int = 10_000,
        clock=time.monotonic,  # noqa: ANN001 - a callable returning seconds
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.base_lockout = base_lockout
        self.max_lockout = max_lockout
        self._max_entries = max_entries
        self._clock = clock
        self._records: OrderedDict[tuple[str, str], _Record] = OrderedDict()

    def check(self, username: str, client: str) -> None:
        record = self._records.get((username.lower(), client))
        if record is None:
            return
        remaining = record.locked_until - self._clock()
        if remaining > 0:
            raise TooManyRequestsError(
                f"Too many failed logins for '{username}' from this address; try again in {int(remaining) + 1} s.",
                retry_after=remaining,
            )

    def failed(self, username: str, client: str) -> None:
        key = (username.lower(), client)
        record = self._records.pop(key, None) or _Record()
        self._records[key] = record  # most recently used last, so the oldest is evicted first
        now = self._clock()
        record.failures = [moment for moment in record.failures if now - moment < self.window] + [now]
        if len(record.failures) >= self.max_failures:
            record.locked_until = now + min(self.max_lockout, self.base_lockout * 2**record.lockouts)
            record.lockouts += 1
            record.failures.clear()
        while len(self._records) > self._max_entries:
            self._records.popitem(last=False)

    def succeeded(self, username: str, client: str) -> None:
        self._records.pop((username.lower(), client), None)
