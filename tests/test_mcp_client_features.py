"""maghub as an MCP client of servers that ask for more than quick text answers (SPEC §13 Client
side, Results to the LLM): keep-alives on long streams, progress notifications as stream events,
and what the LLM reads of images, resources and very long results. The real app over HTTP, the
toolbox fixture server over stdio, the scripted LLM."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from graph_samples import agent, answer_with_name, graph, node_of

from maghub.settings import Settings
from maghub.testing.harness import RunningMaghub
from maghub.testing.mcp_servers.harness import MARKER_VARIABLE
from maghub.testing.scripted_llm import Reply, ScriptedLLM
from maghub.testing.sse import post_stream

MODEL = "m"
KEEP_ALIVE_SECONDS = 0.3
MAX_CHARS = 5000


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        port=0,
        log_level="warning",
        sse_keepalive_seconds=KEEP_ALIVE_SECONDS,
        tool_result_max_chars=MAX_CHARS,
    )


@pytest.fixture
async def hub(marker: str, maghub: RunningMaghub, llm: ScriptedLLM) -> AsyncIterator[RunningMaghub]:
    """maghub with the scripted model (no titles: temporary chats) and the toolbox server."""
    model = {"name": MODEL, "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
    assert (await maghub.client.post("/models", json=model)).status_code == 200
    toolbox = {
        "command": sys.executable,
        "args": ["-m", "maghub.testing.mcp_servers.toolbox"],
        "env": {MARKER_VARIABLE: marker},
        "timeout": 20,
    }
    added = await maghub.client.post("/mcp/add", json={"mcpServers": {"toolbox": toolbox}})
    assert added.json()["servers"]["toolbox"]["connected"] is True, added.text
    yield maghub


def chat(prompt: str, **fields: Any) -> dict[str, Any]:
    return {"user_prompt": prompt, "model_name": MODEL, "conversation_id": None, "mcp_servers": ["toolbox"], **fields}


def call_then_answer(llm: ScriptedLLM, tool: str, arguments: dict[str, Any], answer: str = "done") -> None:
    llm.script(Reply(tool_calls=[{"id": "call_1", "name": tool, "arguments": arguments}]), last_is_tool_result=False)
    llm.script(Reply(content=answer), last_is_tool_result=True)


async def test_a_slow_tool_call_keeps_the_stream_alive_for_a_client_with_a_short_read_timeout(
    hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    call_then_answer(llm, "sleep", {"seconds": 2.0}, "slept well")
    lines: list[str] = []
    # The client gives up when it hears nothing for 1 s; the tool takes 2 s.
    timeout = httpx2.Timeout(10, read=1.0)
    async with (
        httpx2.AsyncClient(base_url=hub.url, timeout=timeout) as client,
        client.stream("POST", "/chat/completions", json=chat("nap")) as response,
    ):
        assert response.status_code == 200
        async for line in response.aiter_lines():
            lines.append(line)

    assert lines.count(": keep-alive") >= 3  # about one per 0.3 s of the 2 s call
    payloads = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
    assert any(p.get("role") == "tool" and p["content"] == "slept 2.0" for p in payloads)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in payloads if c.get("choices"))
    assert text == "slept well" and [line for line in lines if line][-1] == "data: [DONE]"


async def test_a_quick_stream_sends_no_keep_alive(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    llm.script(Reply(content="hi"))
    async with hub.client.stream("POST", "/chat/completions", json=chat("hello", mcp_servers=[])) as response:
        body = (await response.aread()).decode()
    assert "keep-alive" not in body and body.endswith("data: [DONE]\n\n")


async def test_progress_notifications_become_chat_stream_events_before_the_result(
    hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    call_then_answer(llm, "count_steps", {"steps": 3})

    stream = await post_stream(hub.client, "/chat/completions", chat("count"))

    progress = stream.of_type("tool_progress")
    assert progress == [
        {
            "type": "tool_progress",
            "tool_call_id": "call_1",
            "server": "toolbox",
            "tool": "count_steps",
            "progress": step,
            "total": 3,
            "message": f"step {step} of 3",
        }
        for step in (1, 2, 3)
    ]
    result_at = next(i for i, p in enumerate(stream.payloads) if p.get("role") == "tool")
    assert stream.payloads.index(progress[-1]) < result_at
    assert stream.tool_results[0]["content"] == "counted 3 steps" and stream.text == "done"
    # Progress is relayed, not part of the conversation the model reads.
    assert [m["role"] for m in llm.requests[-1].body["messages"]] == ["user", "assistant", "tool"]


async def test_progress_notifications_become_graph_stream_events_with_the_node_name(
    hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    llm.default_reply = answer_with_name
    config = graph("steps", agent("A", ["start"], ["end"], mcp_servers=["toolbox"]))
    assert (await hub.client.post("/api/graphs", json=config)).status_code == 200
    llm.script(
        Reply(tool_calls=[{"id": "c1", "name": "count_steps", "arguments": {"steps": 2}}]),
        when=lambda body: node_of(body) == "A" and body["messages"][-1]["role"] != "tool",
    )

    stream = await post_stream(hub.client, "/api/graphs/execute", {"graph_name": "steps", "input_text": "go"})

    progress = stream.of_type("tool_progress")
    assert [(p["node_name"], p["tool"], p["progress"], p["total"]) for p in progress] == [
        ("A", "count_steps", 1, 2),
        ("A", "count_steps", 2, 2),
    ]
    assert stream.of_type("graph_complete")[0]["final_result"] == "out-A"


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("picture", {"size": 150_000, "caption": "a chart"}, "a chart\n[image: image/png, 146.5 KB]"),
        (
            "embedded_file",
            {"size": 2048},
            "[resource: file:///data/file-2048.bin (application/octet-stream, 2.0 KB); not shown]",
        ),
        ("embedded_file", {"size": 12, "text": True}, "x" * 12),
    ],
)
async def test_what_the_llm_reads_of_images_and_resources(
    hub: RunningMaghub, llm: ScriptedLLM, tool: str, arguments: dict[str, Any], expected: str
) -> None:
    call_then_answer(llm, tool, arguments)

    stream = await post_stream(hub.client, "/chat/completions", chat("show me"))

    assert stream.tool_results[0]["content"] == expected
    assert llm.requests[-1].body["messages"][-1] == {"role": "tool", "tool_call_id": "call_1", "content": expected}


async def test_a_long_tool_result_is_cut_for_the_llm_with_a_note(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    call_then_answer(llm, "long_text", {"chars": 12_345})

    stream = await post_stream(hub.client, "/chat/completions", chat("read it"))

    sent = llm.requests[-1].body["messages"][-1]["content"]
    assert sent == stream.tool_results[0]["content"]
    assert sent.startswith("0123456789" * 500 + "\n[… 7,345 more characters cut")
    assert len(sent) < MAX_CHARS + 200 and stream.text == "done"


async def test_a_vision_model_sees_the_images_once_and_the_stored_round_keeps_the_placeholder(
    hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    eyes = {"name": "eyes", "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted", "vision": True}
    assert (await hub.client.post("/models", json=eyes)).status_code == 200
    assert (await hub.client.get("/models/eyes")).json()["data"]["vision"] is True
    llm.script(Reply(content="<title>Pictures</title><tags>images</tags>"), when=lambda b: "<title>" in json.dumps(b))
    has_tool_result = lambda body: any(m["role"] == "tool" for m in body["messages"])  # noqa: E731
    call = {"id": "call_1", "name": "picture", "arguments": {"size": 100, "caption": "a chart"}}
    llm.script(Reply(tool_calls=[call]), when=lambda body: not has_tool_result(body))
    llm.script(Reply(content="I see a chart."), when=has_tool_result)  # the last message shows the images
    body = chat("look", model_name="eyes", conversation_id="c0ffee00000000000000eeee")

    stream = await post_stream(hub.client, "/chat/completions", body)

    assert stream.text == "I see a chart."
    placeholder = "a chart\n[image: image/png, 100 bytes]"
    sent = [r.body["messages"] for r in llm.requests if "<title>" not in json.dumps(r.body)][-1]
    assert sent[-2] == {"role": "tool", "tool_call_id": "call_1", "content": placeholder}
    shown = sent[-1]
    assert shown["role"] == "user" and shown["content"][0]["text"] == "The images of the tool call call_1 (picture):"
    assert shown["content"][1]["image_url"]["url"].startswith("data:image/png;base64,iVBORw0KGgo")
    stored = (await hub.client.get("/chat/conversations/c0ffee00000000000000eeee")).json()
    assert [m["role"] for m in stored["rounds"][0]["messages"]] == ["user", "assistant", "tool", "assistant"]


async def test_a_model_without_vision_gets_only_the_placeholder(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    call_then_answer(llm, "picture", {"size": 100})

    await post_stream(hub.client, "/chat/completions", chat("look"))

    sent = llm.requests[-1].body["messages"]
    assert sent[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "[image: image/png, 100 bytes]"}
    assert not any(isinstance(m["content"], list) for m in sent)


def toolbox_with(marker: str, **settings: Any) -> dict[str, Any]:
    return {
        "command": sys.executable,
        "args": ["-m", "maghub.testing.mcp_servers.toolbox"],
        "env": {MARKER_VARIABLE: marker},
        "timeout": 20,
        **settings,
    }


async def test_sampling_is_served_by_the_servers_sampling_model_and_counted_on_the_conversation(
    hub: RunningMaghub, llm: ScriptedLLM, marker: str
) -> None:
    asker = toolbox_with(marker, samplingModel=MODEL, roots=["/srv/data", "file:///home/me/notes"])
    added = await hub.client.post("/mcp/add", json={"mcpServers": {"asker": asker}})
    assert added.json()["servers"]["asker"]["connected"] is True, added.text
    stored_config = (await hub.client.get("/mcp/config")).json()["mcpServers"]["asker"]
    assert stored_config["sampling_model"] == MODEL and stored_config["roots"] == asker["roots"]
    is_sampling = lambda body: body["messages"][0] == {"role": "system", "content": "Answer briefly."}  # noqa: E731
    llm.script(Reply(content="<title>t</title><tags>x</tags>"), when=lambda body: "<title>" in json.dumps(body))
    sampling_usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    llm.script(Reply(content="forty-two", usage=sampling_usage), when=is_sampling)
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    calls = [
        {"id": "ask", "name": "ask_model", "arguments": {"question": "the answer?"}},
        {"id": "roots", "name": "client_roots", "arguments": {}},
    ]
    llm.script(Reply(tool_calls=calls, usage=usage), last_is_tool_result=False)
    llm.script(Reply(content="done", usage=usage), last_is_tool_result=True)
    body = chat("ask", mcp_servers=["asker"], conversation_id="c0ffee000000000000005a3e")

    stream = await post_stream(hub.client, "/chat/completions", body)

    results = {event["tool_call_id"]: event["content"] for event in stream.tool_results}
    assert results == {"ask": "the model said: forty-two", "roots": "file:///srv/data\nfile:///home/me/notes"}
    (sampling,) = [r.body for r in llm.requests if is_sampling(r.body)]
    assert sampling["messages"][1] == {"role": "user", "content": "the answer?"} and sampling["max_tokens"] == 100
    stored = (await hub.client.get("/chat/conversations/c0ffee000000000000005a3e")).json()
    assert stored["total_token_usage"]["total_tokens"] == 15 + 15 + 120


async def test_sampling_is_refused_with_a_clear_error_when_the_server_has_no_sampling_model(
    hub: RunningMaghub, llm: ScriptedLLM, marker: str
) -> None:
    rooted = toolbox_with(marker, roots=["/srv/data"])
    assert (await hub.client.post("/mcp/add", json={"mcpServers": {"rooted": rooted}})).status_code == 200
    call_then_answer(llm, "ask_model", {"question": "the answer?"})

    stream = await post_stream(hub.client, "/chat/completions", chat("ask", mcp_servers=["rooted"]))

    (result,) = stream.tool_results
    assert result["content"].startswith("Error") and "no sampling_model" in result["content"], result
    assert stream.text == "done" and len(llm.requests) == 2  # no model call served the server


async def test_bad_client_side_settings_are_refused_with_what_to_fix(hub: RunningMaghub) -> None:
    bad = {"command": sys.executable, "roots": ["relative/dir"]}
    response = await hub.client.post("/mcp/add", json={"mcpServers": {"bad": bad}})
    assert response.status_code in (400, 422) and "absolute" in response.text, response.text
    assert "bad" not in (await hub.client.get("/mcp/config")).json()["mcpServers"]
