"""When a schedule fires: a cron expression in a time zone (parsed by croniter) or a fixed interval.

croniter loads on first use: a maghub without cron schedules never imports it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from maghub.errors import InvalidInputError

MIN_INTERVAL_SECONDS = 1.0
MAX_INTERVAL_SECONDS = 366 * 24 * 3600.0
# A period is on time when it is fired within this share of its length (at least a second, at most a
# minute) of when it was due; a later one was missed, as when every instance was down.
_GRACE_SHARE = 0.5
_MIN_GRACE, _MAX_GRACE = timedelta(seconds=1), timedelta(seconds=60)
# Counting missed cron periods after a long outage stops here ("at least N").
MAX_COUNTED_PERIODS = 10_000


@dataclass(frozen=True)
class Timing:
    cron: str | None
    interval_seconds: float | None
    timezone: str

    @classmethod
    def checked(cls, cron: str | None, interval_seconds: float | None, timezone: str | None) -> Timing:
        """The timing, or InvalidInputError naming what is wrong with it."""
        cron = cron.strip() if cron is not None else None
        if (cron is None or cron == "") == (interval_seconds is None):
            raise InvalidInputError("Give either cron (e.g. '0 9 * * 1-5') or interval_seconds, not both or neither.")
        zone = (timezone or "UTC").strip() or "UTC"
        _zone(zone)
        if interval_seconds is not None:
            if not math.isfinite(interval_seconds) or interval_seconds < MIN_INTERVAL_SECONDS:
                raise InvalidInputError(
                    f"interval_seconds must be at least {MIN_INTERVAL_SECONDS:g} (got {interval_seconds:g})."
                )
            if interval_seconds > MAX_INTERVAL_SECONDS:
                raise InvalidInputError(f"interval_seconds must be at most {MAX_INTERVAL_SECONDS:g} (a year).")
            return cls(None, float(interval_seconds), zone)
        assert cron is not None
        from croniter import CroniterBadDateError, croniter  # type: ignore[import-untyped]

        # Five fields or a macro (@hourly, @daily, ...): croniter's optional seconds and year fields are
        # not part of the API.
        if not (len(cron.split()) == 5 or cron.startswith("@")) or not croniter.is_valid(cron):
            raise InvalidInputError(
                f"cron {cron!r} is not a valid cron expression: use five fields, minute hour day-of-month "
                "month day-of-week, e.g. '*/15 * * * *' or '0 9 * * 1-5'."
            )
        timing = cls(cron, None, zone)
        try:
            timing.next_after(datetime.now(UTC))
        except (CroniterBadDateError, ValueError):
            raise InvalidInputError(f"cron {cron!r} never fires (e.g. the 31st of February).") from None
        return timing

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)

    def next_after(self, moment: datetime) -> datetime:
        """The first period strictly after ``moment`` (UTC)."""
        if self.interval_seconds is not None:
            return moment + timedelta(seconds=self.interval_seconds)
        return next(self._cron_periods(moment))

    def due(self, first: datetime, now: datetime) -> tuple[int, datetime, datetime]:
        """For a schedule whose next period is ``first``: how many periods are due by ``now``
        (``first`` included, at least 1), the latest of them, and the next period after ``now``."""
        if self.interval_seconds is not None:
            step = timedelta(seconds=self.interval_seconds)
            count = int((now - first) / step) + 1
            latest = first + step * (count - 1)
            return count, latest, latest + step
        count, latest = 1, first
        for period in self._cron_periods(first):
            if period > now or count >= MAX_COUNTED_PERIODS:
                break
            count, latest = count + 1, period
        return count, latest, self.next_after(max(now, latest))

    def grace(self, period_start: datetime) -> timedelta:
        length = self.next_after(period_start) - period_start
        return min(max(length * _GRACE_SHARE, _MIN_GRACE), _MAX_GRACE)

    def _cron_periods(self, after: datetime) -> Iterator[datetime]:
        from croniter import croniter

        assert self.cron is not None
        periods = croniter(self.cron, after.astimezone(self.zone), ret_type=datetime)
        while True:
            yield periods.get_next(datetime).astimezone(UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of the database, a name too long
        raise InvalidInputError(
            f"timezone {name!r} is not a known time zone: use an IANA name such as 'UTC', 'Europe/Berlin' "
            "or 'Asia/Shanghai'."
        ) from None
