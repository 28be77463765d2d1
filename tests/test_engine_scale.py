"""Parallel width (SPEC §6): a run's node limit (the graph's ``max_parallel_nodes``, the server's
``MAGHUB_MAX_PARALLEL_NODES``, default 64) and each model's ``max_concurrency``, shared by chat and
every run, with waiting nodes reported as ``node_queued``; the real app, the scripted LLM over HTTP."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from graph_samples import agent, answer_with_name, graph, node_of, subgraph
from pydantic import ValidationError

from maghub.settings import Settings
from maghub.testing.harness import RunningMaghub, running_maghub
from maghub.testing.mcp_servers.harness import MARKER_VARIABLE
from maghub.testing.scripted_llm import RecordedRequest, Reply, ScriptedLLM
from maghub.testing.sse import StreamTranscript, post_stream


def model(llm: ScriptedLLM, name: str = "m", **fields: Any) -> dict[str, Any]:
    return {"name": name, "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model", **fields}


@pytest.fixture
async def hub(maghub: RunningMaghub, llm: ScriptedLLM) -> AsyncIterator[RunningMaghub]:
    assert (await maghub.client.post("/models", json=model(llm))).status_code == 200
    llm.default_reply = answer_with_name
    yield maghub


async def save(hub: RunningMaghub, config: dict[str, Any]) -> None:
    response = await hub.client.post("/api/graphs", json=config)
    assert response.status_code == 200, response.text


async def run(hub: RunningMaghub, **body: Any) -> StreamTranscript:
    return await post_stream(hub.client, "/api/graphs/execute", body)


def fan_out(name: str, width: int, **fields: Any) -> dict[str, Any]:
    """``width`` nodes that all read the run's input and write the result."""
    return graph(name, *(agent(f"N{i}", ["start"], ["end"]) for i in range(width)), **fields)


def most_at_once(requests: list[RecordedRequest]) -> int:
    """The highest number of these requests the LLM server was answering at the same moment."""
    moments = sorted([(r.received_at, 1) for r in requests] + [(r.finished_at or 0, -1) for r in requests])
    current = highest = 0
    for _moment, change in moments:
        current += change
        highest = max(highest, current)
    return highest


def slow(seconds: float):  # noqa: ANN201 - a Reply factory for llm.script
    return lambda body: Reply(content=f"out-{node_of(body)}", first_token_delay=seconds)


async def test_the_default_runs_a_wide_graph_all_at_once(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    await save(hub, fan_out("wide", 20))
    llm.script(slow(0.5), when=lambda body: node_of(body).startswith("N"))

    stream = await run(hub, graph_name="wide", input_text="go")

    assert stream.done and stream.of_type("graph_complete")
    assert most_at_once(llm.requests) == 20, "the default limit held back nodes of a 20-wide graph"
    assert not stream.of_type("node_queued")


async def test_a_graph_limit_bounds_its_nodes_at_once(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    await save(hub, fan_out("narrow", 6, max_parallel_nodes=2))
    llm.script(slow(0.2), when=lambda body: node_of(body).startswith("N"))

    stream = await run(hub, graph_name="narrow", input_text="go")

    assert stream.done and stream.of_type("graph_complete")
    assert most_at_once(llm.requests) == 2
    stored = (await hub.client.get("/api/graphs/narrow")).json()
    assert stored["max_parallel_nodes"] == 2


async def test_the_server_limit_caps_every_graph(settings: Settings, llm: ScriptedLLM) -> None:
    settings.max_parallel_nodes = 3
    async with running_maghub(settings) as hub:
        assert (await hub.client.post("/models", json=model(llm))).status_code == 200
        llm.default_reply = answer_with_name
        await save(hub, fan_out("capped", 8, max_parallel_nodes=50))  # a graph's own limit cannot raise it
        llm.script(slow(0.2), when=lambda body: node_of(body).startswith("N"))

        stream = await run(hub, graph_name="capped", input_text="go")

        assert stream.done and stream.of_type("graph_complete")
        assert most_at_once(llm.requests) == 3


async def test_a_model_with_one_slot_serialises_parallel_nodes_and_reports_them_queued(
    hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    assert (await hub.client.put("/models/m", json=model(llm, max_concurrency=1))).status_code == 200
    await save(hub, fan_out("one_slot", 4))
    llm.script(slow(0.1), when=lambda body: node_of(body).startswith("N"))

    stream = await run(hub, graph_name="one_slot", input_text="go", stream_mode="interleaved")

    complete = stream.of_type("graph_complete")
    assert stream.done and complete and complete[0]["final_result"].count("out-N") == 4
    calls = sorted(llm.requests, key=lambda request: request.received_at)
    assert most_at_once(calls) == 1
    queued = stream.of_type("node_queued")
    assert len(queued) == 3, "every node but the first waited for the model's slot"
    assert all(event["model"] == "m" and event["limit"] == 1 for event in queued)
    for event in queued:  # reported while waiting: before the node's first chunk
        names = [p.get("node_name") for p in stream.payloads]
        first_chunk = next(
            i for i, p in enumerate(stream.payloads) if "choices" in p and names[i] == event["node_name"]
        )
        assert stream.payloads.index(event) < first_chunk


async def test_a_subgraph_node_on_its_parents_model_with_one_slot_completes(
    hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    assert (await hub.client.put("/models/m", json=model(llm, max_concurrency=1))).status_code == 200
    await save(hub, graph("inner", agent("I1", ["start"], ["end"]), agent("I2", ["start"], ["end"])))
    outer = graph(
        "outer", agent("P", ["start"], ["S", "Q"]), subgraph("S", "inner", ["P"], ["end"]), agent("Q", ["P"], ["end"])
    )
    await save(hub, outer)

    with anyio.fail_after(20):
        stream = await run(hub, graph_name="outer", input_text="go")

    assert stream.done and stream.of_type("graph_complete"), stream.payloads[-1]
    assert most_at_once(llm.requests) == 1


async def test_a_node_whose_tool_calls_the_same_one_slot_model_completes(
    marker: str, hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    assert (await hub.client.put("/models/m", json=model(llm, max_concurrency=1))).status_code == 200
    toolbox = {
        "command": sys.executable,
        "args": ["-m", "maghub.testing.mcp_servers.toolbox"],
        "env": {MARKER_VARIABLE: marker},
    }
    assert (await hub.client.post("/mcp/add", json={"mcpServers": {"toolbox": toolbox}})).status_code == 200
    await save(hub, graph("asks", agent("A", ["start"], ["end"], mcp_servers=["toolbox"])))
    ask = {"url": hub.url, "model": "m", "question": "what is inside?"}
    llm.script(
        Reply(tool_calls=[{"name": "ask_chat", "arguments": ask}]),
        when=lambda body: node_of(body) == "A" and body["messages"][-1]["role"] != "tool",
        times=1,
    )
    llm.script(Reply(content="the inner answer"), when=lambda body: node_of(body) == "")
    llm.script(
        lambda body: Reply(content="done: " + body["messages"][-1]["content"]), when=lambda body: node_of(body) == "A"
    )

    with anyio.fail_after(30):
        stream = await run(hub, graph_name="asks", input_text="go")

    assert stream.done and stream.of_type("graph_complete")[0]["final_result"] == "done: the inner answer"


async def test_chat_and_runs_share_a_models_slots(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    assert (await hub.client.put("/models/m", json=model(llm, max_concurrency=2))).status_code == 200
    llm.script(Reply(content="slow answer", first_token_delay=0.3))

    async def chat() -> None:
        body = {"user_prompt": "hi", "model_name": "m", "stream": False}
        assert (await hub.client.post("/chat/completions", json=body)).status_code == 200

    async with anyio.create_task_group() as chats:
        for _ in range(5):
            chats.start_soon(chat)

    assert most_at_once(llm.requests) == 2


@pytest.mark.parametrize("value", [0, -1, 1001, "8", 2.5, True])
async def test_a_bad_graph_limit_is_refused_and_nothing_is_stored(hub: RunningMaghub, value: Any) -> None:
    response = await hub.client.post("/api/graphs", json=fan_out("bad_limit", 2, max_parallel_nodes=value))

    assert 400 <= response.status_code < 500, response.text
    assert "max_parallel_nodes" in json.dumps(response.json())
    assert (await hub.client.get("/api/graphs/bad_limit")).status_code == 404


@pytest.mark.parametrize("value", [0, -3, 10_001, "2", 1.5, False])
async def test_a_bad_model_limit_is_refused_and_nothing_is_stored(
    maghub: RunningMaghub, llm: ScriptedLLM, value: Any
) -> None:
    response = await maghub.client.post("/models", json=model(llm, "limited", max_concurrency=value))

    assert response.status_code == 422, response.text
    assert "max_concurrency" in response.text
    assert (await maghub.client.get("/models/limited")).status_code == 404


@pytest.mark.parametrize("value", ["0", "-1", "1001", "many"])
def test_a_bad_server_limit_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("MAGHUB_MAX_PARALLEL_NODES", value)
    with pytest.raises(ValidationError, match="max_parallel_nodes"):
        Settings()


async def test_a_changed_limit_applies_to_the_next_calls(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    async def chat() -> None:
        body = {"user_prompt": "hi", "model_name": "m", "stream": False}
        assert (await hub.client.post("/chat/completions", json=body)).status_code == 200

    async def chats(count: int) -> None:
        async with anyio.create_task_group() as group:
            for _ in range(count):
                group.start_soon(chat)

    llm.script(Reply(content="slow answer", first_token_delay=0.2))
    await chats(3)  # the model's client exists now, without a limit
    assert most_at_once(llm.requests) == 3
    llm.clear_requests()

    assert (await hub.client.put("/models/m", json=model(llm, max_concurrency=1))).status_code == 200
    await chats(3)
    assert len(llm.requests) == 3 and most_at_once(llm.requests) == 1

    llm.clear_requests()
    assert (await hub.client.put("/models/m", json=model(llm))).status_code == 200  # the limit removed
    await chats(3)
    assert most_at_once(llm.requests) == 3
