"""Schedules (SPEC §14): graph runs fired on a cron expression or an interval."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from maghub.api.deps import RuntimeDep
from maghub.api.schemas.schedules import ScheduleDeleted, ScheduleList, ScheduleView
from maghub.api.routes.chat import UserIdField, UserIdQuery, owner
from maghub.api.security import TokenUser
from maghub.schedules.service import ScheduleChange

router = APIRouter(prefix="/schedules", tags=["schedules"])


class ScheduleBody(BaseModel):
    graph_name: str | None = Field(None, max_length=100)
    input_text: str | None = Field(None, max_length=1_000_000)
    cron: str | None = Field(None, max_length=200, description="Five fields, e.g. '0 9 * * 1-5'")
    interval_seconds: float | None = Field(None, description="At least 1")
    timezone: str | None = Field(None, max_length=64, description="IANA name the cron is read in; default UTC")
    enabled: bool | None = None
    user_id: str = UserIdField

    def change(self) -> ScheduleChange:
        return ScheduleChange(
            self.graph_name, self.input_text, self.cron, self.interval_seconds, self.timezone, self.enabled
        )


@router.post("", summary="Create a schedule", response_model=ScheduleView)
async def create_schedule(body: ScheduleBody, runtime: RuntimeDep, user: TokenUser) -> dict[str, Any]:
    return await runtime.schedules.create(owner(runtime, user, body.user_id), body.change())


@router.get("", summary="Your schedules, each with next_run_at and its last firings", response_model=ScheduleList)
async def list_schedules(runtime: RuntimeDep, user: TokenUser, user_id: str = UserIdQuery) -> dict[str, Any]:
    return {"schedules": await runtime.schedules.list(owner(runtime, user, user_id))}


@router.get(
    "/{schedule_id}",
    summary="A schedule and its firings (each a run, or a missed or failed period)",
    response_model=ScheduleView,
)
async def get_schedule(schedule_id: str, runtime: RuntimeDep, user: TokenUser, user_id: str = UserIdQuery) -> Any:
    return await runtime.schedules.get(schedule_id, owner(runtime, user, user_id))


@router.put(
    "/{schedule_id}", summary="Change a schedule (fields left out stay as they are)", response_model=ScheduleView
)
async def update_schedule(schedule_id: str, body: ScheduleBody, runtime: RuntimeDep, user: TokenUser) -> Any:
    return await runtime.schedules.update(schedule_id, owner(runtime, user, body.user_id), body.change())


@router.post("/{schedule_id}/pause", summary="Stop firing until resumed", response_model=ScheduleView)
async def pause_schedule(schedule_id: str, runtime: RuntimeDep, user: TokenUser, user_id: str = UserIdQuery) -> Any:
    return await runtime.schedules.pause(schedule_id, owner(runtime, user, user_id))


@router.post("/{schedule_id}/resume", summary="Fire again from the next period after now", response_model=ScheduleView)
async def resume_schedule(schedule_id: str, runtime: RuntimeDep, user: TokenUser, user_id: str = UserIdQuery) -> Any:
    return await runtime.schedules.resume(schedule_id, owner(runtime, user, user_id))


@router.delete("/{schedule_id}", summary="Delete a schedule (its runs stay)", response_model=ScheduleDeleted)
async def delete_schedule(schedule_id: str, runtime: RuntimeDep, user: TokenUser, user_id: str = UserIdQuery) -> Any:
    return await runtime.schedules.delete(schedule_id, owner(runtime, user, user_id))
