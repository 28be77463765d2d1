"""Whose conversations and runs a MAG route acts on, shared by the route modules.

The ``user_id`` sent (default ``default_user``) in local mode, the token's user in auth mode (a
``user_id`` sent then is ignored).
"""

from __future__ import annotations

from fastapi import Query
from pydantic import Field

from maghub.auth.users import User
from maghub.chat.service import DEFAULT_USER
from maghub.service.runtime import Runtime

UserIdField = Field(DEFAULT_USER, max_length=128, description="Owner in local mode; ignored in auth mode.")
UserIdQuery = Query(DEFAULT_USER, max_length=128, description="Owner in local mode; ignored in auth mode.")


def owner(runtime: Runtime, user: User | None, user_id: str) -> str:
    if runtime.settings.auth_enabled and user is not None:
        return user.username
    return user_id.strip() or DEFAULT_USER
