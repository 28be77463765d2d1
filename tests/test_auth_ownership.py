"""In auth mode a conversation belongs to the token's user, whatever ``user_id`` a request sends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from graph_samples import graph, node

from maghub.settings import Settings
from maghub.testing.harness import RunningMaghub, running_maghub
from maghub.testing.scripted_llm import ScriptedLLM
from maghub.testing.sse import read_stream


@pytest.fixture
async def secured(settings: Settings, llm: ScriptedLLM) -> AsyncIterator[RunningMaghub]:
    settings.auth_enabled = True
    async with running_maghub(settings) as maghub:
        for name in ("root", "alice", "bob"):
            await maghub.runtime.users.create(name, f"{name}-password", admin=name == "root")
        root = await bearer(maghub, "root")
        model = {"name": "m", "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
        assert (await maghub.client.post("/api/models", json=model, headers=root)).status_code == 200
        yield maghub


async def bearer(maghub: RunningMaghub, username: str) -> dict[str, str]:
    response = await maghub.client.post(
        "/api/auth/login", json={"username": username, "password": f"{username}-password"}
    )
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def stream(maghub: RunningMaghub, path: str, body: dict, headers: dict[str, str]) -> list:
    async with maghub.client.stream("POST", path, json=body, headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        return (await read_stream(response)).payloads


async def test_chats_belong_to_the_token_user(secured: RunningMaghub) -> None:
    alice, bob = await bearer(secured, "alice"), await bearer(secured, "bob")
    client = secured.client
    body = {"user_prompt": "hi", "model_name": "m", "conversation_id": "alices-chat", "user_id": "bob"}
    await stream(secured, "/api/chat/completions", body, alice)

    mine = (await client.get("/api/chat/conversations", headers=alice)).json()
    assert [c["_id"] for c in mine["conversations"]] == ["alices-chat"] and mine["conversations"][0][
        "user_id"
    ] == "alice"
    as_bob = {"user_id": "alice"}  # a user_id parameter does not change who asks
    assert (await client.get("/api/chat/conversations", params=as_bob, headers=bob)).json()["total_count"] == 0
    assert (await client.get("/api/chat/conversations/alices-chat", params=as_bob, headers=bob)).status_code == 404
    deleting = await client.delete("/api/chat/conversations/alices-chat/permanent", params=as_bob, headers=bob)
    assert deleting.status_code == 404
    hijack = await client.post("/api/chat/completions", json={**body, "user_prompt": "mine now"}, headers=bob)
    assert hijack.status_code == 404
    assert (await client.get("/api/chat/conversations", headers={})).status_code == 401


async def test_graph_runs_belong_to_the_token_user(secured: RunningMaghub) -> None:
    alice, bob = await bearer(secured, "alice"), await bearer(secured, "bob")
    client = secured.client
    config = graph("solo", node("A", ["start"], ["end"]))
    assert (await client.post("/api/graphs", json=config, headers=alice)).status_code == 200
    events = await stream(secured, "/api/graphs/execute", {"graph_name": "solo", "input_text": "x"}, alice)
    conversation_id = events[0]["conversation_id"]

    assert (await client.get(f"/api/graphs/runs/{conversation_id}", headers=alice)).json()["status"] == "completed"
    assert (await client.get(f"/api/graphs/runs/{conversation_id}", headers=bob)).status_code == 404
    assert (await client.post(f"/api/graphs/runs/{conversation_id}/cancel", headers=bob)).status_code == 404
    again = await client.post(
        "/api/graphs/execute", json={"conversation_id": conversation_id, "input_text": "y"}, headers=bob
    )
    assert again.status_code == 404
