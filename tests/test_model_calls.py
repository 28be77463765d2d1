"""Models stored through the API are called with their decrypted key and current parameters."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

from maghub.errors import NotFoundError
from maghub.llm.types import FinalEvent
from maghub.testing.harness import RunningMaghub
from maghub.testing.scripted_llm import ScriptedLLM

KEY = "sk-live-abcdefghijklmnop1234"


async def final_of(maghub: RunningMaghub, name: str) -> FinalEvent:
    client = await maghub.runtime.models.client(name)
    async with aclosing(client.stream_chat([{"role": "user", "content": "hello"}])) as events:
        async for event in events:
            if isinstance(event, FinalEvent):
                return event
    raise AssertionError("no final event")


async def test_stored_model_is_called_with_its_key_and_params(maghub: RunningMaghub, llm: ScriptedLLM) -> None:
    body = {
        "name": "local/scripted",
        "base_url": llm.base_url,
        "api_key": KEY,
        "model": "scripted-model",
        "temperature": 0.2,
        "max_tokens": 50,
        "stop": ["END"],
        "extra_headers": {"X-Team": "qa"},
    }
    assert (await maghub.client.post("/models", json=body)).status_code == 200
    final = await final_of(maghub, "local/scripted")
    assert final.message.content == "Echo: hello"
    assert (
        final.usage is not None
        and final.usage.total_tokens == final.usage.prompt_tokens + final.usage.completion_tokens
    )

    request = llm.requests[-1]
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["x-team"] == "qa"
    assert request.body["temperature"] == 0.2 and request.body["max_tokens"] == 50 and request.body["stop"] == ["END"]
    assert request.body["model"] == "scripted-model"
    assert request.body["stream"] is True and request.body["stream_options"] == {"include_usage": True}

    # An update (masked key sent back) rebuilds the client with the new parameters and the same key.
    masked = (await maghub.client.get("/models/local%2Fscripted")).json()["data"]["api_key"]
    first_client = await maghub.runtime.models.client("local/scripted")
    assert (
        await maghub.client.put("/models/local%2Fscripted", json={**body, "api_key": masked, "temperature": 1.1})
    ).status_code == 200
    second_client = await maghub.runtime.models.client("local/scripted")
    assert second_client is not first_client
    assert second_client is await maghub.runtime.models.client("local/scripted")  # reused while unchanged
    await final_of(maghub, "local/scripted")
    assert llm.requests[-1].body["temperature"] == 1.1
    assert llm.requests[-1].headers["authorization"] == f"Bearer {KEY}"


async def test_calls_that_arrive_together_share_one_configuration_read(maghub: RunningMaghub, llm: ScriptedLLM) -> None:
    body = {"name": "burst", "base_url": llm.base_url, "api_key": KEY, "model": "scripted-model"}
    assert (await maghub.client.post("/models", json=body)).status_code == 200
    models = maghub.runtime.models

    configs = await asyncio.gather(*(models.get_config("burst") for _ in range(20)))

    assert all(config is configs[0] for config in configs)  # one read, shared (not 20 reads and decryptions)
    missing = await asyncio.gather(*(models.get_config("nope") for _ in range(3)), return_exceptions=True)
    assert all(isinstance(error, NotFoundError) and "does not exist" in str(error) for error in missing)
    # A change made meanwhile is not hidden by the shared read.
    assert (await maghub.client.put("/models/burst", json={**body, "temperature": 0.7})).status_code == 200
    assert (await models.get_config("burst")).temperature == 0.7
