"""Rows of the ``schedules`` and ``schedule_firings`` tables. Callers own the session (and so the
transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from maghub.store.tables import ScheduleFiringRow, ScheduleRow

# The database's clock, not this instance's: instances whose clocks differ still agree on what is due.
# SQLite's CURRENT_TIMESTAMP has whole seconds only.
_NOW = {
    "postgresql": "SELECT clock_timestamp()",
    "sqlite": "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')",
}


class ScheduleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def database_now(self) -> datetime:
        dialect = self._session.get_bind().dialect.name
        value = await self._session.scalar(text(_NOW.get(dialect, "SELECT CURRENT_TIMESTAMP")))
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    async def get(self, schedule_id: str) -> ScheduleRow | None:
        return await self._session.get(ScheduleRow, schedule_id)

    async def owned_by(self, user_id: str | None) -> Sequence[ScheduleRow]:
        query = select(ScheduleRow).order_by(ScheduleRow.created_at, ScheduleRow.id)
        if user_id is not None:
            query = query.where(ScheduleRow.user_id == user_id)
        return (await self._session.scalars(query)).all()

    def add(self, row: ScheduleRow | ScheduleFiringRow) -> None:
        self._session.add(row)

    async def delete(self, row: ScheduleRow) -> None:
        await self._session.delete(row)

    async def due(self, now: datetime, limit: int) -> Sequence[ScheduleRow]:
        query = (
            select(ScheduleRow)
            .where(ScheduleRow.enabled.is_(True), ScheduleRow.next_run_at <= now)
            .order_by(ScheduleRow.next_run_at)
            .limit(limit)
        )
        return (await self._session.scalars(query)).all()

    async def earliest_next_run(self) -> datetime | None:
        return await self._session.scalar(
            select(func.min(ScheduleRow.next_run_at)).where(ScheduleRow.enabled.is_(True))
        )

    async def claim(self, schedule_id: str, seen_next_run_at: datetime, next_run_at: datetime, now: datetime) -> bool:
        """Move the schedule past the period it was seen at; True for exactly one claimant of a period
        (the UPDATE matches only while ``next_run_at`` is still what this claimant saw)."""
        result = await self._session.execute(
            update(ScheduleRow)
            .where(
                ScheduleRow.id == schedule_id,
                ScheduleRow.next_run_at == seen_next_run_at,
                ScheduleRow.enabled.is_(True),
            )
            .values(next_run_at=next_run_at, last_fired_at=now)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def firings(self, schedule_ids: Sequence[str], per_schedule: int) -> dict[str, list[ScheduleFiringRow]]:
        """The latest ``per_schedule`` firings of each schedule, newest first."""
        if not schedule_ids:
            return {}
        ranked = (
            select(
                ScheduleFiringRow.id,
                func.row_number()
                .over(partition_by=ScheduleFiringRow.schedule_id, order_by=ScheduleFiringRow.id.desc())
                .label("rank"),
            )
            .where(ScheduleFiringRow.schedule_id.in_(schedule_ids))
            .subquery()
        )
        query = (
            select(ScheduleFiringRow)
            .join(ranked, ranked.c.id == ScheduleFiringRow.id)
            .where(ranked.c.rank <= per_schedule)
            .order_by(ScheduleFiringRow.id.desc())
        )
        grouped: dict[str, list[ScheduleFiringRow]] = {schedule_id: [] for schedule_id in schedule_ids}
        for row in (await self._session.scalars(query)).all():
            grouped[row.schedule_id].append(row)
        return grouped

    async def firing(self, firing_id: int) -> ScheduleFiringRow | None:
        return await self._session.get(ScheduleFiringRow, firing_id)
