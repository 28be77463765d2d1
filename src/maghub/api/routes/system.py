"""System control (MAG reference "系统控制API") and the health check."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks

from maghub import __version__
from maghub.api.deps import RuntimeDep
from maghub.api.schemas.system import Health, ShutdownStarted
from maghub.api.security import AdminInAuthMode

router = APIRouter(tags=["system"])
health_router = APIRouter(tags=["system"])


@router.post(
    "/system/shutdown",
    summary="Shut down gracefully: in-flight streams and runs may finish",
    dependencies=[AdminInAuthMode],
    response_model=ShutdownStarted,
)
async def shutdown(background: BackgroundTasks, runtime: RuntimeDep) -> dict[str, Any]:
    active = runtime.shutdown.begin()
    # Runs after the response is sent, so the client gets its answer before the listener closes.
    background.add_task(runtime.shutdown.exit_server)
    return {"status": "success", "message": "服务关闭过程已启动", "active_sessions": active}


@health_router.get("/health", summary="Liveness and database check", response_model=Health)
async def health(runtime: RuntimeDep) -> dict[str, Any]:
    await runtime.database.check_connection()
    return {
        "status": "healthy",
        "app_name": "maghub",
        "version": __version__,
        "database": runtime.database.dialect,
        "shutting_down": runtime.shutdown.requested,
    }
