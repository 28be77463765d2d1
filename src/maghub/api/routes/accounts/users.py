"""User administration (``/api/users``): list, create, disable/enable, delete, set a password.

Admins only, in local mode too (the first admin comes from ``maghub users create NAME --admin``).
Not in the seeds: errors are ``{"detail": ...}``. Passwords are never returned; a change that would
leave no enabled admin is a 409; a disabled or deleted user's tokens stop working at once.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from maghub.api.deps import RuntimeDep
from maghub.api.schemas.auth import UserChanged, UserList, UserView
from maghub.api.views import user_view
from maghub.api.security import signed_in_admin

router = APIRouter(prefix="/api/users", tags=["users"], dependencies=[Depends(signed_in_admin)])

# Bounds only keep bodies small; the real rules (with messages that say what to fix) are the domain's.
Username = Field(min_length=1, max_length=200, examples=["alice"])
Password = Field(min_length=1, max_length=4096, description="8 to 1024 characters.")


class NewUser(BaseModel):
    username: str = Username
    password: str = Password
    admin: bool = False


class NewPassword(BaseModel):
    password: str = Password


@router.get("", summary="Every user (never their passwords)", response_model=UserList)
async def list_users(runtime: RuntimeDep) -> dict[str, Any]:
    users = [user_view(user) for user in await runtime.users.all()]
    return {"users": users, "total": len(users)}


@router.post("", status_code=201, summary="Create a user (409 if the name is taken)", response_model=UserView)
async def create_user(body: NewUser, runtime: RuntimeDep) -> dict[str, Any]:
    return user_view(await runtime.users.create(body.username, body.password, admin=body.admin))


@router.post(
    "/{username}/disable", summary="Disable a user: their tokens stop working at once",
    response_model=UserView,
)
async def disable_user(username: str, runtime: RuntimeDep) -> dict[str, Any]:
    return user_view(await runtime.users.set_disabled(username, True))


@router.post("/{username}/enable", summary="Enable a disabled user", response_model=UserView)
async def enable_user(username: str, runtime: RuntimeDep) -> dict[str, Any]:
    return user_view(await runtime.users.set_disabled(username, False))


@router.put(
    "/{username}/password", summary="Set a user's password: their earlier tokens stop working",
    response_model=UserChanged,
)
async def set_password(username: str, body: NewPassword, runtime: RuntimeDep) -> dict[str, Any]:
    await runtime.users.set_password(username, body.password)
    return {"status": "success", "message": f"The password of '{username}' was changed.", "username": username}


@router.delete("/{username}", summary="Delete a user: their tokens stop working at once", response_model=UserChanged)
async def delete_user(username: str, runtime: RuntimeDep) -> dict[str, Any]:
    await runtime.users.delete(username)
    return {"status": "success", "message": f"User '{username}' was deleted.", "username": username}
