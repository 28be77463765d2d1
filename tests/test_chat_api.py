"""``POST /chat/completions`` end to end: the real app, the scripted LLM over HTTP/SSE, a real
stdio MCP fixture server; what is streamed, what is stored, and what happens when things fail."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from maghub.testing.harness import RunningMaghub
from maghub.testing.mcp_servers.harness import MARKER_VARIABLE, eventually
from maghub.testing.scripted_llm import Reply, ScriptedLLM
from maghub.testing.sse import DONE, post_stream, read_stream

MODEL = "scripted"
USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


def is_title_request(body: dict[str, Any]) -> bool:
    return "<title>" in json.dumps(body.get("messages"), ensure_ascii=False)


def is_chat_request(body: dict[str, Any]) -> bool:
    return not is_title_request(body)


@pytest.fixture
async def hub(maghub: RunningMaghub, llm: ScriptedLLM) -> AsyncIterator[RunningMaghub]:
    """maghub with the scripted model, which also answers title requests."""
    model = {"name": MODEL, "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
    assert (await maghub.client.post("/models", json=model)).status_code == 200
    llm.script(Reply(content="<title>Echo test</title><tags>tools, echo</tags>"), when=is_title_request)
    yield maghub


@pytest.fixture
async def toolbox(marker: str, hub: RunningMaghub) -> AsyncIterator[None]:
    """The toolbox MCP server on ``hub`` (its calls time out after 2 s)."""
    toolbox = {
        "command": sys.executable,
        "args": ["-m", "maghub.testing.mcp_servers.toolbox"],
        "env": {MARKER_VARIABLE: marker},
        "timeout": 2,
    }
    added = await hub.client.post("/mcp/add", json={"mcpServers": {"toolbox": toolbox}})
    assert added.json()["servers"]["toolbox"]["connected"] is True, added.text
    yield


def chat(prompt: str, conversation_id: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"user_prompt": prompt, "model_name": MODEL, "conversation_id": conversation_id, **fields}


def chat_requests(llm: ScriptedLLM) -> list[Any]:
    return [request for request in llm.requests if is_chat_request(request.body)]


async def detail(hub: RunningMaghub, conversation_id: str, user_id: str = "default_user") -> dict[str, Any]:
    response = await hub.client.get(f"/api/chat/conversations/{conversation_id}", params={"user_id": user_id})
    assert response.status_code == 200, response.text
    return response.json()


async def test_temporary_chat_streams_the_answer_and_stores_nothing(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    llm.script(Reply(content="Hello there, friend", usage=USAGE), when=is_chat_request)

    stream = await post_stream(hub.client, "/chat/completions", chat("  hi  "))

    assert stream.done and stream.text == "Hello there, friend" and not stream.errors
    assert stream.chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    (request,) = chat_requests(llm)
    assert request.body["messages"] == [{"role": "user", "content": "hi"}]
    assert request.body["stream_options"] == {"include_usage": True}
    listed = (await hub.client.get("/chat/conversations")).json()
    assert listed["conversations"] == [] and listed["total_count"] == 0


@pytest.mark.usefixtures("toolbox")
async def test_rounds_with_tools_are_stored_and_sent_back_as_history(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    llm.script(
        Reply(tool_calls=[{"id": "call_1", "name": "echo", "arguments": {"text": "ping"}}], usage=USAGE),
        when=is_chat_request,
        last_user_contains="first",
        last_is_tool_result=False,
    )
    llm.script(Reply(content="The tool said ping.", usage=USAGE), when=is_chat_request, last_is_tool_result=True)
    llm.script(Reply(content="Second answer.", usage=USAGE), when=is_chat_request, last_user_contains="second")
    body = chat("first question", "c0ffee0000000000000000aa", mcp_servers=["toolbox"], system_prompt="Be brief.")

    first = await post_stream(hub.client, "/api/chat/completions", body)

    assert first.done and first.text == "The tool said ping."
    (tool_event,) = first.tool_results
    assert tool_event == {"role": "tool", "tool_call_id": "call_1", "content": "ping"}
    deltas = [chunk["choices"][0]["delta"] for chunk in first.chunks if chunk["choices"]]
    streamed_call = next(delta["tool_calls"][0] for delta in deltas if delta.get("tool_calls"))
    assert streamed_call["id"] == "call_1" and streamed_call["function"]["name"] == "echo"

    stored = await detail(hub, "c0ffee0000000000000000aa")
    assert stored["_id"] == stored["conversation_id"] == "c0ffee0000000000000000aa"
    assert stored["title"] == "Echo test" and stored["tags"] == ["tools", "echo"]  # ready at [DONE]
    assert stored["generation_type"] == "chat" and stored["round_count"] == 1
    (round_1,) = stored["rounds"]
    assert round_1["round"] == 1 and round_1["status"] == "completed"
    assert [m["role"] for m in round_1["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert round_1["messages"][1]["tool_calls"][0]["function"]["arguments"] == '{"text": "ping"}'
    assert stored["total_token_usage"] == {"total_tokens": 30, "prompt_tokens": 20, "completion_tokens": 10}

    second = await post_stream(hub.client, "/chat/completions", {**body, "user_prompt": "second question"})
    assert second.text == "Second answer."
    sent = chat_requests(llm)[-1].body["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}  # the system prompt is not stored: sent again
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert sent[3] == {"role": "tool", "tool_call_id": "call_1", "content": "ping"}
    stored = await detail(hub, "c0ffee0000000000000000aa")
    assert stored["round_count"] == 2 and stored["total_token_usage"]["total_tokens"] == 45
    assert stored["title"] == "Echo test"  # titles are made on the first round only
    assert sum(1 for request in llm.requests if is_title_request(request.body)) == 1


@pytest.mark.usefixtures("toolbox")
async def test_parallel_tool_calls_answer_in_call_order_with_errors_and_timeouts(
    hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    calls = [
        {"id": "slow", "name": "sleep", "arguments": {"seconds": 0.5}},
        {"id": "fails", "name": "fail", "arguments": {"message": "disk full"}},
        {"id": "hangs", "name": "sleep", "arguments": {"seconds": 30}},
        {"id": "fast", "name": "echo", "arguments": {"text": "quick"}},
    ]
    llm.script(Reply(tool_calls=calls), when=is_chat_request, last_is_tool_result=False)
    llm.script(Reply(content="done"), when=is_chat_request, last_is_tool_result=True)

    started = anyio.current_time()
    stream = await post_stream(hub.client, "/chat/completions", chat("go", "parallel", mcp_servers=["toolbox"]))
    elapsed = anyio.current_time() - started

    assert [event["tool_call_id"] for event in stream.tool_results] == ["slow", "fails", "hangs", "fast"]
    by_id = {event["tool_call_id"]: event["content"] for event in stream.tool_results}
    assert "disk full" in by_id["fails"] and by_id["fails"].startswith("Error")
    assert by_id["hangs"].startswith("Error") and "2" in by_id["hangs"]  # the server's 2 s timeout
    assert by_id["fast"] == "quick" and stream.text == "done"
    assert elapsed < 10  # concurrently: bounded by the timeout, not the sum
    messages = (await detail(hub, "parallel"))["rounds"][0]["messages"]
    assert [m.get("tool_call_id") for m in messages if m["role"] == "tool"] == ["slow", "fails", "hangs", "fast"]


async def test_llm_error_mid_stream_keeps_the_partial_round_and_the_next_turn_works(
    hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    llm.script(Reply(content="one two three four five six", fail_after_chunks=3), when=is_chat_request, times=1)
    stream = await post_stream(hub.client, "/chat/completions", chat("tell me", "broken"))

    assert stream.done and stream.text == "one two"  # the role chunk counts as one of the three
    (error,) = stream.errors
    assert error["type"] == "model_error" and MODEL in error["message"]
    (round_1,) = (await detail(hub, "broken"))["rounds"]
    assert round_1["status"] == "interrupted" and round_1["error"]
    assert round_1["messages"][-1] == {"role": "assistant", "content": "one two", "interrupted": True}

    llm.script(Reply(content="recovered"), when=is_chat_request)
    again = await post_stream(hub.client, "/chat/completions", chat("try again", "broken"))
    assert again.text == "recovered"
    sent = chat_requests(llm)[-1].body["messages"]
    assert sent[1] == {"role": "assistant", "content": "one two"}  # storage-only keys are not sent


async def test_client_disconnect_closes_the_llm_stream_and_stores_an_interrupted_round(
    hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    words = " ".join(f"w{i}" for i in range(200))
    llm.script(Reply(content=words, chunk_delay=0.02), when=is_chat_request)
    body = chat("long story", "walkaway")
    async with hub.client.stream("POST", "/chat/completions", json=body) as response:
        received = 0
        async for line in response.aiter_lines():
            received += line.startswith("data: ")
            if received == 5:
                break

    await llm.wait_for(lambda requests: any(r.disconnected for r in requests if is_chat_request(r.body)), timeout=5)

    async def interrupted() -> dict[str, Any]:
        return (await detail(hub, "walkaway"))["rounds"][0]

    with anyio.fail_after(5):
        while (await interrupted())["status"] != "interrupted":
            await anyio.sleep(0.05)
    last = (await interrupted())["messages"][-1]
    assert last["role"] == "assistant" and last["interrupted"] is True and last["content"].startswith("w0 w1 w2")
    await eventually(lambda: hub.runtime.activity.count == 0, 5, "the abandoned turn ended its session")


@pytest.mark.usefixtures("toolbox")
async def test_the_call_limit_ends_with_an_answer_and_every_call_answered(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    llm.script(
        Reply(tool_calls=[{"name": "echo", "arguments": {"text": "again"}}], content=""),
        when=lambda body: is_chat_request(body) and body.get("tool_choice") != "none",
    )
    llm.script(Reply(content="I stop here.", usage=USAGE), when=is_chat_request)

    reply = await hub.client.post(
        "/chat/completions", json=chat("loop", "limit", mcp_servers=["toolbox"], stream=False)
    )

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["output"] == "I stop here." and body["choices"][0]["finish_reason"] == "length"
    requests = chat_requests(llm)
    assert len(requests) == 10 and requests[-1].body["tool_choice"] == "none"
    assert len([m for m in body["messages"] if m["role"] == "tool"]) == 9


async def test_non_streaming_reply_has_the_original_and_openai_shapes(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    llm.script(Reply(content="Plain answer", usage=USAGE), when=is_chat_request)

    response = await hub.client.post(
        "/chat/completions", json=chat("hello", "nonstream", system_prompt="sys", stream=False)
    )

    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == MODEL and body["id"].startswith("chatcmpl-")
    assert body["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "Plain answer"},
    ]
    assert body["output"] == "Plain answer" and body["choices"][0]["message"]["content"] == "Plain answer"
    assert body["usage"] == {"total_tokens": 15, "prompt_tokens": 10, "completion_tokens": 5}
    assert (await detail(hub, "nonstream"))["title"] == "Echo test"


async def test_non_streaming_llm_failure_is_a_502_and_the_round_is_kept(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    llm.script(Reply(status=401, error_message="bad key"), when=is_chat_request)

    response = await hub.client.post("/chat/completions", json=chat("hello", "authfail", stream=False))

    assert response.status_code == 502 and "api_key" in response.json()["detail"]
    (round_1,) = (await detail(hub, "authfail"))["rounds"]
    assert round_1["status"] == "interrupted" and round_1["messages"] == [{"role": "user", "content": "hello"}]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"user_prompt": "   ", "model_name": MODEL}, 400, "user_prompt"),
        ({"user_prompt": "hi", "model_name": "nope"}, 404, "nope"),
        ({"user_prompt": "hi", "model_name": ""}, 400, "model_name"),
        ({"user_prompt": "hi", "model_name": MODEL, "mcp_servers": ["ghost"]}, 404, "ghost"),
        ({"user_prompt": "hi", "model_name": MODEL, "conversation_id": " "}, 400, "conversation_id"),
        ({"user_prompt": "hi", "model_name": MODEL, "conversation_id": "x" * 201}, 422, "conversation_id"),
        ({"model_name": MODEL}, 422, "user_prompt"),
        ({"user_prompt": "hi", "model_name": MODEL, "stream": "maybe"}, 422, "stream"),
    ],
)
async def test_bad_requests_fail_before_streaming(
    hub: RunningMaghub, llm: ScriptedLLM, body: dict[str, Any], status: int, words: str
) -> None:
    response = await hub.client.post("/chat/completions", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert words in json.dumps(response.json()["detail"])
    assert chat_requests(llm) == []


async def test_another_users_conversation_cannot_be_continued(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    await post_stream(hub.client, "/chat/completions", chat("mine", "owned", user_id="alice"))

    response = await hub.client.post("/chat/completions", json=chat("hijack", "owned", user_id="mallory"))

    assert response.status_code == 404 and "new id" in response.json()["detail"]
    assert len((await detail(hub, "owned", "alice"))["rounds"]) == 1


async def test_two_turns_at_once_on_one_conversation_run_one_after_the_other(
    hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    llm.script(Reply(content="slow answer", first_token_delay=0.3), when=is_chat_request, last_user_contains="A")
    llm.script(Reply(content="other answer"), when=is_chat_request, last_user_contains="B")

    async with anyio.create_task_group() as group:
        group.start_soon(post_stream, hub.client, "/chat/completions", chat("A", "busy"))
        await eventually(lambda: len(chat_requests(llm)) == 1, 5, "the first turn reached the LLM")
        group.start_soon(post_stream, hub.client, "/chat/completions", chat("B", "busy"))

    _first, second = chat_requests(llm)
    assert second.body["messages"][:2] == [
        {"role": "user", "content": "A"},
        {"role": "assistant", "content": "slow answer"},
    ]  # B waited for A and saw its answer
    rounds = (await detail(hub, "busy"))["rounds"]
    assert [(r["round"], r["messages"][0]["content"]) for r in rounds] == [(1, "A"), (2, "B")]


@pytest.mark.usefixtures("toolbox")
async def test_unavailable_servers_are_reported_and_the_chat_goes_on(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    config = {
        "mcpServers": {"off": {"url": "http://127.0.0.1:9/mcp", "transportType": "streamable_http", "disabled": True}}
    }
    assert (await hub.client.post("/mcp/add", json=config)).status_code == 200
    llm.script(Reply(content="fine"), when=is_chat_request)

    stream = await post_stream(hub.client, "/chat/completions", chat("hi", None, mcp_servers=["off", "toolbox"]))

    (notice,) = stream.of_type("notice")
    assert "'off' is disabled" in notice["message"]
    tools = chat_requests(llm)[0].body["tools"]
    assert {tool["function"]["name"] for tool in tools} >= {"echo", "sleep"}
    assert stream.events[-1] == DONE and stream.text == "fine"


async def test_stream_response_headers(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    async with hub.client.stream("POST", "/chat/completions", json=chat("hi")) as response:
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        transcript = await read_stream(response)
    assert transcript.done


@pytest.mark.usefixtures("toolbox")
async def test_precise_compaction_summarises_long_tool_results_through_the_api(
    hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    long_text = "measurement " * 300
    llm.script(
        Reply(tool_calls=[{"id": "big", "name": "echo", "arguments": {"text": long_text}}]),
        when=lambda b: is_chat_request(b) and b["messages"][-1]["role"] != "tool" and "summar" not in json.dumps(b),
    )
    llm.script(Reply(content="Short summary.", usage=USAGE), when=lambda b: "summar" in json.dumps(b).lower())
    llm.script(Reply(content="Done."), when=is_chat_request)
    await post_stream(hub.client, "/chat/completions", chat("measure", "compact-me", mcp_servers=["toolbox"]))

    body = {"conversation_id": "compact-me", "model_name": MODEL, "compact_type": "precise", "compact_threshold": 500}
    response = await hub.client.post("/chat/conversations/compact-me/compact", json=body)

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["changed"] is True and result["statistics"]["tool_contents_summarized"] == 1
    assert result["statistics"]["compressed_tokens"] < result["statistics"]["original_tokens"]
    tool = next(m for m in (await detail(hub, "compact-me"))["rounds"][0]["messages"] if m["role"] == "tool")
    assert tool == {"role": "tool", "tool_call_id": "big", "content": "[已总结] Short summary."}
    again = await hub.client.post("/chat/conversations/compact-me/compact", json=body)
    assert again.json()["changed"] is False  # a summary is never summarised again
