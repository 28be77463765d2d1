"""Response views that several route modules show (route modules never import each other)."""

from __future__ import annotations

from typing import Any

from maghub.auth.users import User
from maghub.mcp.connections.status import ServerStatus
from maghub.timestamps import iso_utc, iso_utc_or_none


def error_history(status: ServerStatus, *, milliseconds: bool = False) -> dict[str, Any]:
    """Past failures, still there after the server connects again (when ``lastError`` is cleared)."""
    return {
        "lastErrorAt": iso_utc_or_none(status.last_error_at, milliseconds=milliseconds),
        "recentErrors": [
            {"message": past.message, "kind": past.kind.value, "at": iso_utc(past.at, milliseconds=milliseconds)}
            for past in status.recent_errors
        ],
    }


def user_view(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "disabled": user.disabled,
        "created_at": iso_utc(user.created_at),
        "last_login_at": iso_utc_or_none(user.last_login_at),
    }
