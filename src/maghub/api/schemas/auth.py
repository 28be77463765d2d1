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
