from __future__ import annotations

from maghub.api.schemas import Open


class FiringView(Open):
    """One period of a schedule: a run it started, or a missed or failed period."""

    scheduled_for: str
    fired_at: str
    status: str
    conversation_id: str | None
    missed_count: int | None
    message: str | None


class ScheduleView(Open):
    id: str
    owner: str
    graph_name: str
    input_text: str
    cron: str | None
    interval_seconds: float | None
    timezone: str
    enabled: bool
    paused_reason: str | None
    next_run_at: str
    next_run_at_local: str
    last_fired_at: str | None
    created_at: str
    updated_at: str
    firings: list[FiringView]


class ScheduleList(Open):
    schedules: list[ScheduleView]


class ScheduleDeleted(Open):
    status: str
    id: str
    message: str
