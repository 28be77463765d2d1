"""Schedules as their owners manage them: create, list, read, update, pause, resume, delete.

A schedule belongs to its owner: another user's schedule is "not found" (``user_id`` None means
every owner, for the firing loop). Every change that affects timing recomputes ``next_run_at`` from
the database's clock and wakes the firing loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from maghub.errors import InvalidInputError, NotFoundError
from maghub.graphs.definition.registry import GraphRegistry
from maghub.schedules.timing import Timing
from maghub.store.database import Database
from maghub.store.repositories.schedules import ScheduleRepository
from maghub.store.tables import ScheduleFiringRow, ScheduleRow
from maghub.timestamps import iso_utc, iso_utc_or_none

LISTED_FIRINGS = 5
DETAIL_FIRINGS = 50


@dataclass(frozen=True)
class ScheduleChange:
    """Fields of a create or update; None leaves a field as it is (update) or takes its default."""

    graph_name: str | None = None
    input_text: str | None = None
    cron: str | None = None
    interval_seconds: float | None = None
    timezone: str | None = None
    enabled: bool | None = None


class ScheduleService:
    def __init__(self, database: Database, graphs: GraphRegistry, wake: Callable[[], None] = lambda: None) -> None:
        self._database = database
        self._graphs = graphs
        self.wake = wake
        """Called after a change so that the firing loop looks again (set by the loop)."""

    async def create(self, user_id: str, change: ScheduleChange) -> dict[str, Any]:
        if not (change.graph_name or "").strip():
            raise InvalidInputError("graph_name is empty: name the graph to run (GET /graphs lists them).")
        if not (change.input_text or "").strip():
            raise InvalidInputError("input_text is empty: send what the graph should work on at each firing.")
        timing = Timing.checked(change.cron, change.interval_seconds, change.timezone)
        graph_name = change.graph_name.strip()  # type: ignore[union-attr]
        await self._check_graph(graph_name)
        async with self._database.write() as session:
            repo = ScheduleRepository(session)
            now = await repo.database_now()
            row = ScheduleRow(
                user_id=user_id,
                graph_name=graph_name,
                input_text=change.input_text.strip(),  # type: ignore[union-attr]
                cron=timing.cron,
                interval_seconds=timing.interval_seconds,
                timezone=timing.timezone,
                enabled=True if change.enabled is None else change.enabled,
                next_run_at=timing.next_after(now),
                created_at=now,
                updated_at=now,
            )
            repo.add(row)
        self.wake()
        return _view(row, [])

    async def list(self, user_id: str) -> list[dict[str, Any]]:
        async with self._database.read() as session:
            repo = ScheduleRepository(session)
            rows = await repo.owned_by(user_id)
            firings = await repo.firings([row.id for row in rows], LISTED_FIRINGS)
        return [_view(row, firings[row.id]) for row in rows]

    async def get(self, schedule_id: str, user_id: str) -> dict[str, Any]:
        async with self._database.read() as session:
            repo = ScheduleRepository(session)
            row = _owned(await repo.get(schedule_id), schedule_id, user_id)
            firings = await repo.firings([row.id], DETAIL_FIRINGS)
        return _view(row, firings[row.id])

    async def update(self, schedule_id: str, user_id: str, change: ScheduleChange) -> dict[str, Any]:
        if change.cron is not None and change.interval_seconds is not None:
            raise InvalidInputError("Give either cron or interval_seconds, not both.")
        if change.input_text is not None and not change.input_text.strip():
            raise InvalidInputError("input_text is empty: send what the graph should work on at each firing.")
        graph_names = set(await self._graphs.names())
        if change.graph_name is not None and change.graph_name.strip() not in graph_names:
            raise InvalidInputError(
                f"graph_name '{change.graph_name.strip()}' is not a saved graph (GET /graphs lists them)."
            )
        async with self._database.write() as session:
            repo = ScheduleRepository(session)
            row = _owned(await repo.get(schedule_id), schedule_id, user_id)
            cron, interval = row.cron, row.interval_seconds
            if change.cron is not None:
                cron, interval = change.cron, None
            elif change.interval_seconds is not None:
                cron, interval = None, change.interval_seconds
            timing = Timing.checked(cron, interval, change.timezone or row.timezone)
            graph_name = change.graph_name.strip() if change.graph_name is not None else row.graph_name
            enabled = row.enabled if change.enabled is None else change.enabled
            if enabled and graph_name not in graph_names:
                raise InvalidInputError(
                    f"Schedule '{schedule_id}' cannot run: its graph '{graph_name}' no longer exists. "
                    "Point it at another graph with graph_name."
                )
            now = await repo.database_now()
            row.graph_name = graph_name
            if change.input_text is not None:
                row.input_text = change.input_text.strip()
            row.cron, row.interval_seconds, row.timezone = timing.cron, timing.interval_seconds, timing.timezone
            row.enabled = enabled
            if enabled:
                row.paused_reason = None
            row.next_run_at = timing.next_after(now)  # from now: periods that passed meanwhile do not fire
            row.updated_at = now
            firings = await repo.firings([row.id], DETAIL_FIRINGS)
        self.wake()
        return _view(row, firings[row.id])

    async def pause(self, schedule_id: str, user_id: str) -> dict[str, Any]:
        return await self.update(schedule_id, user_id, ScheduleChange(enabled=False))

    async def resume(self, schedule_id: str, user_id: str) -> dict[str, Any]:
        """Resuming starts from now: the periods that passed while paused are not fired."""
        return await self.update(schedule_id, user_id, ScheduleChange(enabled=True))

    async def delete(self, schedule_id: str, user_id: str) -> dict[str, Any]:
        async with self._database.write() as session:
            repo = ScheduleRepository(session)
            row = _owned(await repo.get(schedule_id), schedule_id, user_id)
            await repo.delete(row)
        return {"status": "success", "id": schedule_id, "message": f"schedule '{schedule_id}' deleted"}

    async def _check_graph(self, name: str) -> None:
        if name not in await self._graphs.names():
            raise InvalidInputError(f"graph_name '{name}' is not a saved graph (GET /graphs lists them).")


def _owned(row: ScheduleRow | None, schedule_id: str, user_id: str | None) -> ScheduleRow:
    if row is None or (user_id is not None and row.user_id != user_id):
        raise NotFoundError(f"There is no schedule '{schedule_id}' (GET /schedules lists yours).")
    return row


def _view(row: ScheduleRow, firings: Sequence[ScheduleFiringRow]) -> dict[str, Any]:
    timing = Timing(row.cron, row.interval_seconds, row.timezone)
    return {
        "id": row.id,
        "owner": row.user_id,
        "graph_name": row.graph_name,
        "input_text": row.input_text,
        "cron": row.cron,
        "interval_seconds": row.interval_seconds,
        "timezone": row.timezone,
        "enabled": row.enabled,
        "paused_reason": row.paused_reason,
        "next_run_at": iso_utc(row.next_run_at),
        "next_run_at_local": row.next_run_at.astimezone(timing.zone).isoformat(),
        "last_fired_at": iso_utc_or_none(row.last_fired_at),
        "created_at": iso_utc(row.created_at),
        "updated_at": iso_utc(row.updated_at),
        "firings": [firing_view(firing) for firing in firings],
    }


def firing_view(row: ScheduleFiringRow) -> dict[str, Any]:
    return {
        "scheduled_for": iso_utc(row.scheduled_for),
        "fired_at": iso_utc(row.fired_at),
        "status": row.status,
        "conversation_id": row.conversation_id,
        "missed_count": row.missed_count,
        "message": row.message,
    }
