"""The firing loop: every instance runs one; each period of a schedule fires exactly once among them.

An instance claims a period with a conditional UPDATE that moves ``next_run_at`` past it only if it
still holds the value the instance read (:meth:`ScheduleRepository.claim`): of several instances
reading the same due schedule, one UPDATE matches and the others match nothing. Times come from the
database's clock. A claimed period is recorded as a firing, then its run starts in the background
through the :class:`RunManager`, owned by the schedule's owner.

Periods that passed while no instance was running (later than the period's grace, see
:meth:`Timing.grace`) are recorded as one ``missed`` firing and not run: a restart after a night
down does not fire a night of runs in a burst. A schedule whose graph is gone pauses itself and
says why.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Self

import anyio
import anyio.abc

from maghub.errors import MaghubError, NotFoundError
from maghub.graphs.definition.registry import GraphRegistry
from maghub.graphs.running.runs import ExecuteRequest, RunManager
from maghub.observability import metrics
from maghub.schedules.service import ScheduleService
from maghub.schedules.timing import Timing
from maghub.store.database import Database
from maghub.store.repositories.schedules import ScheduleRepository
from maghub.store.tables import ScheduleFiringRow, ScheduleRow
from maghub.timestamps import iso_utc

log = logging.getLogger(__name__)

# Schedules claimed per pass; more wait for the next pass, a moment later.
BATCH = 50


class ScheduleFirer:
    def __init__(
        self,
        database: Database,
        graphs: GraphRegistry,
        runs: RunManager,
        service: ScheduleService,
        *,
        max_sleep_seconds: float = 1.0,
    ) -> None:
        self._database = database
        self._graphs = graphs
        self._runs = runs
        self._max_sleep = max_sleep_seconds
        """Longest wait between looks: bounds how late a schedule made on another instance is seen."""
        self._wake = anyio.Event()
        self._task_group: anyio.abc.TaskGroup | None = None
        service.wake = self.wake

    def wake(self) -> None:
        self._wake.set()

    async def __aenter__(self) -> Self:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._loop)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._task_group is not None
        self._task_group.cancel_scope.cancel()
        await self._task_group.__aexit__(None, None, None)

    async def _loop(self) -> None:
        while True:
            try:
                delay = await self.fire_due()
            except Exception:  # a database hiccup: log it and look again, the loop must live on
                log.exception("schedules: a firing pass failed")
                delay = self._max_sleep
            with anyio.move_on_after(delay):
                await self._wake.wait()
            self._wake = anyio.Event()

    async def fire_due(self) -> float:
        """Claim and fire what is due now; returns how long to wait before the next look."""
        async with self._database.read() as session:
            repo = ScheduleRepository(session)
            now = await repo.database_now()
            due = list(await repo.due(now, BATCH))
        for row in due:
            await self._fire(row, now)
        if len(due) == BATCH:
            return 0.0
        async with self._database.read() as session:
            repo = ScheduleRepository(session)
            earliest = await repo.earliest_next_run()
            now = await repo.database_now()
        if earliest is None:
            return self._max_sleep
        return min(max((earliest - now).total_seconds(), 0.0), self._max_sleep)

    async def _fire(self, row: ScheduleRow, now: datetime) -> None:
        timing = Timing(row.cron, row.interval_seconds, row.timezone)
        count, latest, following = timing.due(row.next_run_at, now)
        on_time = now - latest <= timing.grace(latest)
        missed = count - 1 if on_time else count
        firing = ScheduleFiringRow(
            schedule_id=row.id, scheduled_for=latest, fired_at=now, status="starting", missed_count=0
        )
        async with self._database.write() as session:
            repo = ScheduleRepository(session)
            if not await repo.claim(row.id, row.next_run_at, following, now):
                return  # another instance has this period
            if missed:
                repo.add(_missed(row, missed, latest if not on_time else None, now))
            if on_time:
                repo.add(firing)
        if missed:
            metrics.schedule_firings.labels("missed").inc(missed)
            log.warning(
                "schedule periods missed while no instance ran; not replayed",
                extra={"schedule_id": row.id, "missed": missed, "since": iso_utc(row.next_run_at)},
            )
        if on_time:
            await self._start_run(row, firing)

    async def _start_run(self, row: ScheduleRow, firing: ScheduleFiringRow) -> None:
        request = ExecuteRequest(graph_name=row.graph_name, input_text=row.input_text, user_id=row.user_id)
        conversation_id: str | None = None
        status, message = "started", None  # "starting" until here: what a crash right after the claim leaves
        try:
            live = await self._runs.start(request, background=True)
            live.stop_listening()  # nobody follows a scheduled run's events; its rounds are stored
            conversation_id = live.conversation_id
        except NotFoundError as exc:
            status, message = "failed", str(exc)
            if row.graph_name not in await self._graphs.names():
                await self._pause(
                    row.id,
                    f"its graph '{row.graph_name}' was deleted; point the schedule at "
                    "another graph (PUT /schedules/{id}) and resume it",
                )
        except MaghubError as exc:  # the graph cannot run now (an unknown model, shutting down): this period fails
            status, message = "failed", str(exc)
        metrics.schedule_firings.labels("fired" if status == "started" else "failed").inc()
        async with self._database.write() as session:
            stored = await ScheduleRepository(session).firing(firing.id)
            if stored is not None:
                stored.status, stored.conversation_id, stored.message = status, conversation_id, message
        log.info(
            "schedule fired" if status == "started" else "schedule could not start its run",
            extra={"schedule_id": row.id, "conversation_id": conversation_id, "error": message},
        )

    async def _pause(self, schedule_id: str, reason: str) -> None:
        async with self._database.write() as session:
            row = await ScheduleRepository(session).get(schedule_id)
            if row is not None:
                row.enabled, row.paused_reason = False, reason
        log.warning("schedule paused itself", extra={"schedule_id": schedule_id, "reason": reason})


def _missed(row: ScheduleRow, count: int, last: datetime | None, now: datetime) -> ScheduleFiringRow:
    until = f" to {iso_utc(last)}" if last is not None else ""
    return ScheduleFiringRow(
        schedule_id=row.id,
        scheduled_for=row.next_run_at,
        fired_at=now,
        status="missed",
        missed_count=count,
        message=f"{count} period(s) from {iso_utc(row.next_run_at)}{until} passed while no maghub instance was "
        "running; they were not run",
    )
