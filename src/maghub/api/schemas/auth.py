from __future__ import annotations

from typing import Literal

from maghub.api.schemas import Open


class UserView(Open):
    id: int | str
    username: str
    role: str
    disabled: bool
    created_at: str
    last_login_at: str | None


class AccessToken(Open):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int
    user: UserView


class UserList(Open):
    users: list[UserView]
    total: int


class UserChanged(Open):
    status: str
    message: str
    username: str


class ApiKeyView(Open):
    """An API key as listed: never the key itself."""

    id: int | str
    name: str
    prefix: str
    created_at: str
    expires_at: str | None
    last_used_at: str | None


class ApiKeyCreated(ApiKeyView):
    key: str
    """The key itself: shown in this response only."""


class ApiKeyList(Open):
    keys: list[ApiKeyView]


class ApiKeyRevoked(Open):
    status: str
    id: int | str
    revoked: bool
