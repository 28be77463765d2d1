"""Login and the current user (``/api/auth``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from maghub.api.deps import RuntimeDep
from maghub.api.views import user_view
from maghub.api.schemas.auth import AccessToken, UserView
from maghub.api.security import SignedIn

router = APIRouter(prefix="/api/auth", tags=["auth"])


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


@router.post("/login", summary="Exchange a username and password for an access token", response_model=AccessToken)
async def login(credentials: Login, request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    client = request.client.host if request.client else "unknown"
    token, user = await runtime.users.login(credentials.username, credentials.password, client)
    return {
        "access_token": token.access_token,
        "token_type": "bearer",
        "expires_in": token.expires_in,
        "user": user_view(user),
    }


@router.get("/me", summary="The user the access token belongs to", response_model=UserView)
async def me(user: SignedIn) -> dict[str, Any]:
    return user_view(user)
