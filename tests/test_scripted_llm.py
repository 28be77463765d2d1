"""The scripted LLM server, checked through the raw openai SDK and plain HTTP (no maghub client)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import httpx2
import openai
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from maghub.testing.scripted_llm import Reply, Rule, ScriptedLLM, serve_app

USER = [{"role": "user", "content": "hello there friend"}]
TOOLS = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]


@pytest.fixture
async def sdk(llm: ScriptedLLM) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=llm.base_url, api_key="sk-test", max_retries=0, timeout=5) as client:
        yield client


def origin(llm: ScriptedLLM) -> str:
    assert llm.base_url is not None
    return llm.base_url.removesuffix("/v1")


async def collect(stream: openai.AsyncStream) -> list:
    return [chunk async for chunk in stream]


async def test_stream_wire_format(llm: ScriptedLLM) -> None:
    llm.script(Reply(content="Hi  you \n"))
    body = {"model": "m", "messages": USER, "stream": True, "stream_options": {"include_usage": True}}
    async with httpx2.AsyncClient() as http:
        response = await http.post(llm.base_url + "/chat/completions", json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = response.text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    assert all(e.startswith("data: ") for e in events[:-2])
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1]) == "Hi  you \n"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-2]] == [None] * (len(chunks) - 2)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert all(c["usage"] is None for c in chunks[:-1])


async def test_stream_without_include_usage_has_no_usage_chunk(llm: ScriptedLLM, sdk: openai.AsyncOpenAI) -> None:
    chunks = await collect(await sdk.chat.completions.create(model="m", messages=USER, stream=True))
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


async def test_sdk_stream_content_reasoning_and_usage(llm: ScriptedLLM, sdk: openai.AsyncOpenAI) -> None:
    llm.script(Reply(content="The answer is 4", reasoning="two plus two", chunk_size=2))
    chunks = await collect(
        await sdk.chat.completions.create(model="m", messages=USER, stream=True, stream_options={"include_usage": True})
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas[0].role == "assistant"
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == "two plus two"
    assert "".join(d.content or "" for d in deltas) == "The answer is 4"
    # chunk_size=2 tokens: "The answer" + " is 4"
    assert [d.content for d in deltas if d.content] == ["The answer", " is 4"]
    usage = chunks[-1].usage
    assert usage is not None and chunks[-1].choices == []
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (3, 7, 10)
    assert usage.completion_tokens_details.reasoning_tokens == 3


async def test_sdk_stream_parallel_tool_calls(llm: ScriptedLLM, sdk: openai.AsyncOpenAI) -> None:
    llm.script(
        Reply(
            tool_calls=[
                {"name": "add", "arguments": {"a": 1, "b": 2}, "id": "call_a"},
                {"name": "mul", "arguments": '{"x": 3}'},
            ]
        )
    )
    chunks = await collect(await sdk.chat.completions.create(model="m", messages=USER, tools=TOOLS, stream=True))
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    headers = [tc for tc in calls if tc.id]
    assert [(h.index, h.id, h.type, h.function.name, h.function.arguments) for h in headers] == [
        (0, "call_a", "function", "add", ""),
        (1, headers[1].id, "function", "mul", ""),
    ]
    fragments = [tc for tc in calls if not tc.id]
    assert all(f.function.name is None and f.type is None for f in fragments)
    joined = {i: "".join(f.function.arguments for f in fragments if f.index == i) for i in (0, 1)}
    assert json.loads(joined[0]) == {"a": 1, "b": 2} and json.loads(joined[1]) == {"x": 3}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_non_stream_shape_and_usage(llm: ScriptedLLM, sdk: openai.AsyncOpenAI) -> None:
    llm.script(Reply(content="Sure", reasoning="ok then", tool_calls=[{"name": "add", "arguments": {"a": 1}}]))
    response = await sdk.chat.completions.create(model="m-1", messages=USER, tools=TOOLS)
    assert response.object == "chat.completion" and response.model == "m-1"
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Sure"
    assert choice.message.reasoning_content == "ok then"  # type: ignore[attr-defined]
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "add" and json.loads(call.function.arguments) == {"a": 1}
    assert response.usage.prompt_tokens == 3
    assert response.usage.completion_tokens == 1 + 2 + 1 + 2  # content, reasoning, call header, arguments
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens


async def test_usage_override_and_finish_reason(llm: ScriptedLLM, sdk: openai.AsyncOpenAI) -> None:
    llm.script(Reply(content="cut", finish_reason="length", usage={"prompt_tokens": 100, "completion_tokens": 7}))
    response = await sdk.chat.completions.create(model="m", messages=USER)
    assert response.choices[0].finish_reason == "length"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (
        100,
        7,
        107,
    )


async def test_default_reply_echoes_last_user_message(llm: ScriptedLLM, sdk: openai.AsyncOpenAI) -> None:
    messages = [
        *USER,
        {"role": "assistant", "content": "x"},
        {"role": "user", "content": [{"type": "text", "text": "again"}]},
    ]
    response = await sdk.chat.completions.create(model="m", messages=messages)
    assert response.choices[0].message.content == "Echo: again"


async def test_rules_in_order_with_times(llm: ScriptedLLM, sdk: openai.AsyncOpenAI) -> None:
    first = llm.script("first", times=2)
    llm.script("second")
    replies = [
        (await sdk.chat.completions.create(model="m", messages=USER)).choices[0].message.content for _ in range(4)
    ]
    assert replies == ["first", "first", "second", "second"]
    assert first.exhausted and first.used == 2


async def test_matchers(llm: ScriptedLLM, sdk: openai.AsyncOpenAI) -> None:
    llm.script("tool result seen", last_is_tool_result=True)
    llm.script("for big", model="big")
    llm.script("with tools", has_tools=True)
    llm.script("about weather", last_user_contains="weather")
    llm.script("long one", when=lambda body: len(body["messages"]) > 2)
    llm.script(lambda body: Reply(content=f"computed {len(body['messages'])}"))

    async def ask(messages: list, **kw: object) -> str | None:
        response = await sdk.chat.completions.create(model=kw.pop("model", "m"), messages=messages, **kw)  # type: ignore[arg-type]
        return response.choices[0].message.content

    tool_turn = [
        *USER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "3"},
    ]
    assert await ask(tool_turn) == "tool result seen"
    assert await ask(USER, model="big") == "for big"
    assert await ask(USER, tools=TOOLS) == "with tools"
    assert await ask([{"role": "user", "content": "weather today?"}]) == "about weather"
    assert await ask([*USER, {"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]) == "long one"
    assert await ask(USER) == "computed 1"


async def test_failing_rule_answers_500(llm: ScriptedLLM, sdk: openai.AsyncOpenAI) -> None:
    llm.script("never", when=lambda body: body["nope"])
    with pytest.raises(openai.InternalServerError, match="KeyError"):
        await sdk.chat.completions.create(model="m", messages=USER)
    assert llm.requests[-1].outcome == "error"


async def test_error_reply_body_and_headers(llm: ScriptedLLM) -> None:
    llm.script(Reply(status=429, error_message="slow down", headers={"Retry-After": "3"}))
    async with httpx2.AsyncClient() as http:
        response = await http.post(llm.base_url + "/chat/completions", json={"model": "m", "messages": USER})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json() == {
        "error": {
            "message": "slow down",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert llm.requests[-1].outcome == "error"


async def test_error_reply_through_sdk(llm: ScriptedLLM, sdk: openai.AsyncOpenAI) -> None:
    llm.script(Reply(status=401, error_message="bad key"))
    with pytest.raises(openai.AuthenticationError) as caught:
        await sdk.chat.completions.create(model="m", messages=USER, stream=True)
    assert caught.value.code == "invalid_api_key" and "bad key" in caught.value.message


async def test_fail_after_chunks_cuts_the_stream(llm: ScriptedLLM, sdk: openai.AsyncOpenAI) -> None:
    llm.script(Reply(content="one two three four", fail_after_chunks=2))
    received = []
    with pytest.raises(openai.APIConnectionError):
        async for chunk in await sdk.chat.completions.create(model="m", messages=USER, stream=True):
            received.append(chunk)
    assert [c.choices[0].delta.content for c in received] == ["", "one"]
    assert llm.requests[-1].outcome == "dropped"


async def test_fail_after_chunks_cuts_a_non_streamed_reply(llm: ScriptedLLM, sdk: openai.AsyncOpenAI) -> None:
    llm.script(Reply(content="one two", fail_after_chunks=0))
    with pytest.raises(openai.APIConnectionError):
        await sdk.chat.completions.create(model="m", messages=USER)
    assert llm.requests[-1].outcome == "dropped"


async def test_client_disconnect_is_recorded_quickly(llm: ScriptedLLM, sdk: openai.AsyncOpenAI) -> None:
    llm.script(Reply(content="never sent", first_token_delay=30))

    async def consume() -> None:
        async for _ in await sdk.chat.completions.create(model="m", messages=USER, stream=True):
            pass

    task = asyncio.create_task(consume())
    await llm.wait_for(lambda reqs: len(reqs) == 1, timeout=2)
    cancelled_at = time.time()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (record,) = await llm.wait_for(lambda reqs: reqs[0].finished, timeout=1)
    assert record.outcome == "disconnected"
    assert record.finished_at - cancelled_at < 1.0


async def test_latency_and_chunk_delay(llm: ScriptedLLM, sdk: openai.AsyncOpenAI) -> None:
    llm.latency = 0.15
    llm.script(Reply(content="a b c d", chunk_delay=0.05))
    start = time.perf_counter()
    arrivals = []
    async for _ in await sdk.chat.completions.create(model="m", messages=USER, stream=True):
        arrivals.append(time.perf_counter() - start)
    assert arrivals[0] >= 0.15
    # role, 4 tokens, finish: 5 paced gaps
    assert arrivals[-1] - arrivals[0] >= 5 * 0.05 * 0.9
    assert llm.requests[-1].completed


async def test_request_log_records_body_and_headers(llm: ScriptedLLM, sdk: openai.AsyncOpenAI) -> None:
    before = time.time()
    await sdk.chat.completions.create(model="m", messages=USER, temperature=0.3, extra_headers={"X-Trace": "t1"})
    (record,) = llm.requests
    assert record.body["temperature"] == 0.3 and record.body["messages"] == USER
    assert record.headers["x-trace"] == "t1" and record.headers["authorization"] == "Bearer sk-test"
    assert before <= record.received_at <= record.finished_at
    assert record.completed and not record.stream


async def test_wait_for_times_out_with_context(llm: ScriptedLLM) -> None:
    with pytest.raises(TimeoutError, match="not met within 0.05s"):
        await llm.wait_for(lambda reqs: len(reqs) > 0, timeout=0.05)


async def test_admin_endpoints(llm: ScriptedLLM, sdk: openai.AsyncOpenAI) -> None:
    async with httpx2.AsyncClient(base_url=origin(llm) + "/_scripted") as admin:
        flat = await admin.post("/rules", json={"last_user_contains": "friend", "content": "flat rule", "times": 1})
        nested = await admin.post("/rules", json={"model": "m", "reply": {"content": "nested rule"}})
        assert flat.status_code == nested.status_code == 201
        assert flat.json()["rule"]["match"] == {"last_user_contains": "friend"}
        bad = await admin.post("/rules", json={"contnet": "typo"})
        assert bad.status_code == 400 and "contnet" in bad.json()["error"]["message"]
        for invalid in ({"content": "x", "times": 0}, {"chunk_size": "x"}, {"reply": "hi"}, ["content"]):
            assert (await admin.post("/rules", json=invalid)).status_code == 400, invalid

        replies = [
            (await sdk.chat.completions.create(model="m", messages=USER)).choices[0].message.content for _ in range(2)
        ]
        assert replies == ["flat rule", "nested rule"]

        rules = (await admin.get("/rules")).json()["rules"]
        assert [(r["reply"]["content"], r["used"]) for r in rules] == [("flat rule", 1), ("nested rule", 1)]
        requests = (await admin.get("/requests")).json()["requests"]
        assert len(requests) == 2 and requests[0]["outcome"] == "completed"
        assert requests[0]["headers"]["authorization"] == "***"  # never hand keys out
        assert requests[0]["body"]["messages"] == USER

        assert (await admin.delete("/rules")).json() == {"deleted": 2}
        assert (await admin.delete("/requests")).json() == {"deleted": 2}
    assert llm.rules == [] and llm.requests == []


async def test_models_and_bad_requests(llm: ScriptedLLM) -> None:
    async with httpx2.AsyncClient(base_url=llm.base_url) as http:
        models = (await http.get("/models")).json()
        assert models["object"] == "list" and models["data"][0]["id"] == "scripted-model"
        not_json = await http.post("/chat/completions", content=b"{nope", headers={"content-type": "application/json"})
        assert not_json.status_code == 400 and not_json.json()["error"]["type"] == "invalid_request_error"
        assert (await http.post("/chat/completions", json={"model": "m"})).status_code == 400
    assert llm.requests == []


async def test_works_mounted_under_a_prefix() -> None:
    llm = ScriptedLLM()
    llm.script(Reply(content="from the mount"))
    host = Starlette(routes=[Mount("/demo/llm", app=llm.app)])
    async with serve_app(host) as root:
        async with openai.AsyncOpenAI(base_url=root + "/demo/llm/v1", api_key="x", max_retries=0) as sdk:
            chunks = await collect(await sdk.chat.completions.create(model="m", messages=USER, stream=True))
            assert "".join(c.choices[0].delta.content or "" for c in chunks) == "from the mount"
            assert (await sdk.models.list()).data[0].id == "scripted-model"
        async with httpx2.AsyncClient() as http:
            logged = (await http.get(root + "/demo/llm/_scripted/requests")).json()["requests"]
    assert len(logged) == 1 and logged[0]["outcome"] == "completed"


def test_reply_validation() -> None:
    with pytest.raises(ValueError):
        Reply(chunk_size=0)
    with pytest.raises(ValueError):
        Reply(status=302)
    with pytest.raises(ValueError):
        Reply(tool_calls=[{"arguments": {}}])
    with pytest.raises(ValueError, match="unknown reply"):
        Rule.from_dict({"conten": "x"})


def test_runs_in_a_thread_for_sync_code() -> None:
    llm = ScriptedLLM()
    llm.script("threaded")
    with (
        llm.running_in_thread() as base_url,
        openai.OpenAI(base_url=base_url, api_key="x", max_retries=0) as sdk,
    ):
        assert sdk.chat.completions.create(model="m", messages=USER).choices[0].message.content == "threaded"
    assert llm.base_url is None and llm.requests[0].completed


def test_command_line() -> None:
    command = [sys.executable, "-m", "maghub.testing.scripted_llm", "--port", "0", "--model", "demo-1"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            base_url = line.rsplit(" ", 1)[-1].strip()
            assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1"), line
            # The socket is listening before the app is loaded: early connections just wait.
            with httpx2.Client(base_url=base_url, timeout=10) as http:
                assert http.get("/models").json()["data"][0]["id"] == "demo-1"
                reply = http.post("/chat/completions", json={"model": "demo-1", "messages": USER}).json()
                assert reply["choices"][0]["message"]["content"] == "Echo: hello there friend"
        finally:
            process.terminate()
