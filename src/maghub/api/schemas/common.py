"""Bodies shared by several areas."""

from __future__ import annotations

from typing import Literal

from maghub.api.schemas import Open


class Done(Open):
    """The original's acknowledgement: ``{"status": "success", "message": ...}``."""

    status: Literal["success"]
    message: str
