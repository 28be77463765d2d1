"""Demo mode (the offline model) and graceful shutdown with a request in flight."""

from __future__ import annotations

import threading
import time
from contextlib import aclosing
from pathlib import Path

import httpx2
import openai
import pytest

from maghub.llm.types import ChunkEvent, FinalEvent
from maghub.settings import Settings
from maghub.testing.harness import running_maghub
from maghub.testing.process import MaghubProcess


@pytest.fixture
def demo_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", port=0, demo=True, log_level="warning")


async def test_demo_model_is_registered_and_answers_offline(demo_settings: Settings) -> None:
    async with running_maghub(demo_settings) as maghub:
        models = (await maghub.client.get("/api/models")).json()
        demo = next(m for m in models if m["name"] == "demo")
        assert demo["base_url"] == f"{maghub.url}/demo/llm/v1"

        client = await maghub.runtime.models.client("demo")
        events = []
        async with aclosing(client.stream_chat([{"role": "user", "content": "ping"}])) as stream:
            async for event in stream:
                events.append(event)
        final = events[-1]
        assert isinstance(final, FinalEvent)
        assert final.message.content == "Hello from maghub's offline demo model. You said: ping"
        assert sum(isinstance(e, ChunkEvent) for e in events) > 3
        assert final.usage is not None and final.usage.total_tokens > 0

        # Any OpenAI client can use it too.
        async with openai.AsyncOpenAI(base_url=demo["base_url"], api_key="x") as raw:
            reply = await raw.chat.completions.create(model="demo", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content.endswith("You said: hi")


async def test_demo_chats_get_a_title_from_their_question(demo_settings: Settings) -> None:
    async with running_maghub(demo_settings) as maghub:
        body = {"user_prompt": "How do tides work on Mars?", "model_name": "demo", "conversation_id": "demo-chat"}
        async with maghub.client.stream("POST", "/api/chat/completions", json=body) as response:
            await response.aread()
        detail = (await maghub.client.get("/api/chat/conversations/demo-chat")).json()
        assert detail["title"] == "How do tides work on Mars?" and detail["tags"] == ["demo"]


async def test_demo_model_follows_the_port_across_restarts(demo_settings: Settings) -> None:
    async with running_maghub(demo_settings) as first:
        first_url = (await first.client.get("/models/demo")).json()["data"]["base_url"]
    demo_settings.port = 0
    async with running_maghub(demo_settings) as second:
        second_url = (await second.client.get("/models/demo")).json()["data"]["base_url"]
        assert second_url == f"{second.url}/demo/llm/v1"
    assert first_url != second_url


async def test_demo_scripting_endpoints_exist_only_without_auth(demo_settings: Settings) -> None:
    """In auth mode the demo model keeps answering, but nobody can read the prompts sent to it or
    script its replies (tool calls included) into other users' chats (SPEC §9)."""
    rule = {"reply": {"content": "injected"}}
    async with running_maghub(demo_settings) as local:
        assert (await local.client.get("/demo/llm/_scripted/requests")).status_code == 200
    demo_settings.auth_enabled = True
    demo_settings.port = 0
    async with running_maghub(demo_settings) as secured:
        await secured.runtime.users.create("root", "root-password", admin=True)
        login = {"username": "root", "password": "root-password"}
        token = (await secured.client.post("/api/auth/login", json=login)).json()["access_token"]
        for headers in ({}, {"Authorization": f"Bearer {token}"}):
            for method, path, body in (
                ("GET", "/demo/llm/_scripted/requests", None),
                ("DELETE", "/demo/llm/_scripted/requests", None),
                ("GET", "/demo/llm/_scripted/rules", None),
                ("POST", "/demo/llm/_scripted/rules", rule),
                ("DELETE", "/demo/llm/_scripted/rules", None),
            ):
                response = await secured.client.request(method, path, json=body, headers=headers)
                assert response.status_code == 404, (method, path, response.text)

        client = await secured.runtime.models.client("demo")
        async with aclosing(client.stream_chat([{"role": "user", "content": "still here?"}])) as stream:
            events = [event async for event in stream]
        final = events[-1]
        assert isinstance(final, FinalEvent)
        assert final.message.content == "Hello from maghub's offline demo model. You said: still here?"


def test_shutdown_lets_an_in_flight_stream_finish(tmp_path: Path) -> None:
    server = MaghubProcess(tmp_path / "data", "--demo")
    try:
        server.wait_ready()
        slow = {"reply": {"content": " ".join(f"w{i}" for i in range(20)), "chunk_delay": 0.1}, "times": 1}
        assert httpx2.post(f"{server.url}/demo/llm/_scripted/rules", json=slow).status_code in (200, 201)

        received: list[str] = []
        first_chunk = threading.Event()

        def stream() -> None:
            body = {"model": "demo", "stream": True, "messages": [{"role": "user", "content": "go"}]}
            with httpx2.stream("POST", f"{server.url}/demo/llm/v1/chat/completions", json=body, timeout=30) as r:
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        received.append(line[6:])
                        first_chunk.set()

        reader = threading.Thread(target=stream)
        reader.start()
        assert first_chunk.wait(10)
        started = time.monotonic()
        response = httpx2.post(f"{server.url}/system/shutdown", timeout=5)
        assert response.status_code == 200 and response.json()["status"] == "success"
        reader.join(20)
        assert received[-1] == "[DONE]", received[-3:]
        assert server.proc.wait(timeout=20) == 0
        assert time.monotonic() - started >= 1.0  # it really waited for the stream
    finally:
        server.stop()
