"""API keys (SPEC §13): created once-shown over HTTP and with ``maghub keys``, stored hashed, owned,
expiring, revocable, last use recorded, accepted as a bearer token wherever a JWT is — the MCP
gateway included."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import select

from maghub.settings import Settings
from maghub.store.tables import ApiKeyRow
from maghub.testing.harness import RunningMaghub, running_maghub
from maghub.testing.process import MAGHUB_COMMAND, env_without_maghub_settings

pytestmark = pytest.mark.anyio
SignIn = Callable[[str], Awaitable[dict[str, str]]]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_create_list_use_revoke(secured: RunningMaghub, sign_in: SignIn) -> None:
    alice = await sign_in("alice")
    created = await secured.client.post("/api/keys", json={"name": "claude-desktop"}, headers=alice)
    assert created.status_code == 200, created.text
    body = created.json()
    key = body["key"]
    assert key.startswith("mgk_") and body["name"] == "claude-desktop" and body["expires_at"] is None
    assert key.startswith(body["prefix"]) and len(body["prefix"]) < len(key)

    # Stored hashed: the key itself is nowhere in the database.
    async with secured.runtime.database.read() as session:
        row = (await session.scalars(select(ApiKeyRow))).one()
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest() and key not in str(row.__dict__)

    me = await secured.client.get("/api/auth/me", headers=bearer(key))
    assert me.status_code == 200 and me.json()["username"] == "alice"
    assert (await secured.client.get("/api/models", headers=bearer(key))).status_code == 200
    listed = (await secured.client.get("/api/keys", headers=bearer(key))).json()["keys"]
    assert [k["id"] for k in listed] == [body["id"]] and "key" not in listed[0]
    assert listed[0]["last_used_at"] is not None

    # Another user does not see it and cannot revoke it.
    root = await sign_in("root")
    assert (await secured.client.get("/api/keys", headers=root)).json()["keys"] == []
    assert (await secured.client.delete(f"/api/keys/{body['id']}", headers=root)).status_code == 404

    revoked = await secured.client.delete(f"/api/keys/{body['id']}", headers=alice)
    assert revoked.status_code == 200
    refused = await secured.client.get("/api/auth/me", headers=bearer(key))
    assert refused.status_code == 401 and "revoked" in refused.text
    assert (await secured.client.delete(f"/api/keys/{body['id']}", headers=alice)).status_code == 404


async def test_bad_requests_and_expiry(secured: RunningMaghub, sign_in: SignIn) -> None:
    alice = await sign_in("alice")
    assert (await secured.client.post("/api/keys", json={"name": "x"})).status_code == 401
    assert (await secured.client.post("/api/keys", json={"name": ""}, headers=alice)).status_code in (400, 422)
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    in_past = await secured.client.post("/api/keys", json={"name": "old", "expires_at": past}, headers=alice)
    assert in_past.status_code == 400 and "past" in in_past.json()["detail"]
    assert (await secured.client.delete("/api/keys/bad%00id", headers=alice)).status_code in (400, 404, 422)

    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    created = (await secured.client.post("/api/keys", json={"name": "soon", "expires_at": soon}, headers=alice)).json()
    assert created["expires_at"] is not None
    assert (await secured.client.get("/api/auth/me", headers=bearer(created["key"]))).status_code == 200
    async with secured.runtime.database.write() as session:
        row = await session.get(ApiKeyRow, created["id"])
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    expired = await secured.client.get("/api/auth/me", headers=bearer(created["key"]))
    assert expired.status_code == 401 and "expired" in expired.text
    unknown = await secured.client.get("/api/auth/me", headers=bearer("mgk_" + "x" * 43))
    assert unknown.status_code == 401

    # A disabled user's keys stop working at once.
    fresh = (await secured.client.post("/api/keys", json={"name": "fresh"}, headers=alice)).json()
    await secured.runtime.users.set_disabled("alice", True)
    assert (await secured.client.get("/api/auth/me", headers=bearer(fresh["key"]))).status_code == 401


def keys_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MAGHUB_COMMAND, "keys", *args, "--data-dir", str(data_dir)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=env_without_maghub_settings(),
    )


async def test_cli_key_opens_the_gateway_in_auth_mode(tmp_path: Path) -> None:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    data_dir = tmp_path / "data"
    made = subprocess.run(
        [*MAGHUB_COMMAND, "users", "create", "bot", "--data-dir", str(data_dir)],
        input="bot-password-123\n",
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=env_without_maghub_settings(),
    )
    assert made.returncode == 0, made.stderr
    created = keys_cli(data_dir, "create", "agent", "--user", "bot", "--expires-in-days", "30")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("mgk_") and "not shown again" in created.stderr
    assert keys_cli(data_dir, "create", "x", "--user", "nobody").returncode == 2

    async with running_maghub(Settings(data_dir=data_dir, port=0, auth_enabled=True)) as maghub:
        refused = await maghub.client.post("/gateway/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert refused.status_code == 401
        http = httpx2.AsyncClient(headers=bearer(key), timeout=30)
        async with Client(streamable_http_client(f"{maghub.url}/gateway/mcp", http_client=http)) as mcp:
            assert (await mcp.list_tools()).tools == []

    listed = keys_cli(data_dir, "list", "--user", "bot")
    assert listed.returncode == 0 and "agent" in listed.stdout and key not in listed.stdout
    key_id = listed.stdout.split()[0]
    assert keys_cli(data_dir, "revoke", key_id, "--user", "bot").returncode == 0
    assert "no API keys" in keys_cli(data_dir, "list", "--user", "bot").stdout
    async with running_maghub(Settings(data_dir=data_dir, port=0, auth_enabled=True)) as maghub:
        revoked = await maghub.client.post("/gateway/mcp", json={}, headers=bearer(key))
        assert revoked.status_code == 401
