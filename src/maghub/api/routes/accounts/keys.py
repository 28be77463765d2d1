"""API keys for machine clients such as MCP clients of the gateway (``/api/keys``, SPEC §13)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from maghub.api.deps import RuntimeDep
from maghub.api.schemas.auth import ApiKeyCreated, ApiKeyList, ApiKeyRevoked
from maghub.api.security import SignedIn

router = APIRouter(prefix="/api/keys", tags=["api keys"])
KeyId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="The id from GET /api/keys")]


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="What uses the key, e.g. 'claude-desktop'.")
    expires_at: datetime | None = Field(
        None, description="When it stops working (ISO 8601; UTC without a zone); none: never."
    )


@router.post(
    "", summary="Create an API key of the signed-in user (the key is shown in this response only)",
    response_model=ApiKeyCreated,
)
async def create_key(body: NewKey, runtime: RuntimeDep, user: SignedIn) -> dict[str, Any]:
    stored, key = await runtime.api_keys.create(user.username, body.name, body.expires_at)
    return {**stored.public_view(), "key": key}


@router.get("", summary="The signed-in user's API keys (never the keys themselves)", response_model=ApiKeyList)
async def list_keys(runtime: RuntimeDep, user: SignedIn) -> dict[str, Any]:
    return {"keys": [key.public_view() for key in await runtime.api_keys.list(user.id)]}


@router.delete("/{key_id}", summary="Revoke an API key; it stops working at once", response_model=ApiKeyRevoked)
async def revoke_key(key_id: KeyId, runtime: RuntimeDep, user: SignedIn) -> dict[str, Any]:
    await runtime.api_keys.revoke(user.id, key_id)
    return {"status": "success", "id": key_id, "revoked": True}
