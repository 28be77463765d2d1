"""Who may call what (SPEC §9), as FastAPI dependencies.

- Local mode (default, loopback only): MAG routes are open; the hub's ``/api/servers`` needs a JWT,
  except ``validate`` and ``test``.
- Auth mode (``MAGHUB_AUTH_ENABLED=true``): every route needs a JWT. Models, MCP servers, AI tools,
  users and shutdown are instance-wide: every user reads and uses them, only admins change them
  (:data:`AdminInAuthMode`). Graphs have an owner (:data:`GraphEditor`); conversations and runs
  belong to their owner alone (the domain answers 404 to anyone else).
- The hub's writes need an admin token in both modes: the hub always knows its caller's role.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from maghub.api.deps import RuntimeDep
from maghub.auth.users import User
from maghub.errors import AuthenticationError, ForbiddenError
from maghub.service.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="A token from POST /api/auth/login")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def token_user(request: Request, runtime: RuntimeDep, credentials: Credentials) -> User | None:
    """The caller's user when a bearer token was sent (a bad token is a 401 even where none is needed)."""
    if credentials is None:
        return None
    user = await runtime.users.authenticate(credentials.credentials)
    request.state.user = user
    return user


TokenUser = Annotated[User | None, Depends(token_user)]


def _require(user: User | None) -> User:
    if user is None:
        raise AuthenticationError(
            "This route needs an access token: log in with POST /api/auth/login and send "
            "'Authorization: Bearer <access_token>'."
        )
    return user


def _require_admin(user: User) -> User:
    if not user.is_admin:
        raise ForbiddenError(f"User '{user.username}' may not do this: it needs the admin role.")
    return user


async def signed_in(user: TokenUser) -> User:
    """Always needs a token (the hub's routes, ``/api/auth/me``)."""
    return _require(user)


async def signed_in_admin(user: TokenUser) -> User:
    """Always needs an admin's token (user administration)."""
    return _require_admin(_require(user))


async def mag_access(runtime: RuntimeDep, user: TokenUser) -> User | None:
    """MAG routes: open in local mode, a token in auth mode."""
    return _require(user) if runtime.settings.auth_enabled else user


async def admin_in_auth_mode(runtime: RuntimeDep, user: TokenUser) -> User | None:
    """Routes that start processes or write code: the admin role in auth mode."""
    return _require_admin(_require(user)) if runtime.settings.auth_enabled else user


async def token_in_auth_mode(runtime: RuntimeDep, user: TokenUser) -> User | None:
    """The hub's ``validate``: open in local mode (as the hub documents), a token in auth mode."""
    return _require(user) if runtime.settings.auth_enabled else user


async def graph_editor(runtime: RuntimeDep, user: TokenUser) -> User | None:
    """Who changes graphs: the token's user in auth mode (graphs they create are theirs, and they may
    change only their own unless admin); None in local mode, where graphs have no owners."""
    return _require(user) if runtime.settings.auth_enabled else None


def may_configure(runtime: Runtime, user: User | None) -> bool:
    """Whether the caller may add models and MCP servers: anyone in local mode, admins in auth mode."""
    return not runtime.settings.auth_enabled or (user is not None and user.is_admin)


SignedIn = Annotated[User, Depends(signed_in)]
AdminUser = Annotated[User, Depends(signed_in_admin)]
AdminInAuthMode = Depends(admin_in_auth_mode)
GraphEditor = Annotated[User | None, Depends(graph_editor)]
