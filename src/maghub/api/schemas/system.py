from __future__ import annotations

from typing import Literal

from maghub.api.schemas import Open
from maghub.api.schemas.common import Done


class ShutdownStarted(Done):
    active_sessions: int


class Health(Open):
    status: Literal["healthy"]
    app_name: str
    version: str
    database: str
    shutting_down: bool
