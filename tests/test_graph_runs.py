"""Graph runs end to end: the real app, graphs saved through the API, the scripted LLM over HTTP;
scheduling (parallel, handoffs, loops, skips), streaming, storage, cancel and resume."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from graph_samples import agent, answer_with_name, blocks, graph, node_of, subgraph

from maghub.testing.harness import RunningMaghub
from maghub.testing.mcp_servers.harness import MARKER_VARIABLE
from maghub.testing.scripted_llm import Reply, ScriptedLLM
from maghub.testing.sse import StreamTranscript, post_stream, read_stream


@pytest.fixture
async def hub(maghub: RunningMaghub, llm: ScriptedLLM) -> AsyncIterator[RunningMaghub]:
    model = {"name": "m", "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
    assert (await maghub.client.post("/models", json=model)).status_code == 200
    llm.default_reply = answer_with_name
    yield maghub


async def save(hub: RunningMaghub, config: dict[str, Any]) -> None:
    response = await hub.client.post("/api/graphs", json=config)
    assert response.status_code == 200, response.text


async def run(hub: RunningMaghub, **body: Any) -> StreamTranscript:
    return await post_stream(hub.client, "/api/graphs/execute", body)


def toolbox_server(marker: str) -> dict[str, Any]:
    """The fixture toolbox over stdio, tagged so the test fails if its process outlives the test."""
    return {
        "command": sys.executable,
        "args": ["-m", "maghub.testing.mcp_servers.toolbox"],
        "env": {MARKER_VARIABLE: marker},
    }


def requests_of(llm: ScriptedLLM, name: str) -> list[Any]:
    return [request for request in llm.requests if node_of(request.body) == name]


async def test_linear_graph_streams_node_blocks_and_stores_every_round(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    await save(hub, graph("line", agent("A", ["start"], ["B"]), agent("B", ["A"], ["C"]), agent("C", ["B"], ["end"])))

    stream = await run(hub, graph_name="line", input_text="the topic")

    assert stream.done and not stream.errors
    created = stream.payloads[0]
    assert created["type"] == "conversation_created" and created["conversation_id"].startswith("line_")
    assert [e.get("node_name") for e in stream.payloads[1:3]] == ["start", "start"]
    assert blocks(stream) == ["start", "A", "B", "C"]
    assert all(chunk["node_name"] for chunk in stream.chunks)
    (complete,) = stream.of_type("graph_complete")
    assert complete["final_result"] == "out-C"
    assert complete["execution_chain"] == [["start", "A"], ["B"], ["C"]]
    assert requests_of(llm, "A")[0].body["messages"][1] == {"role": "user", "content": "the topic"}
    assert requests_of(llm, "B")[0].body["messages"][1]["content"] == "out-A"

    conversation_id = created["conversation_id"]
    detail = (await hub.client.get(f"/api/chat/conversations/{conversation_id}")).json()
    assert detail["type"] == "graph" and detail["generation_type"] == "graph_run"
    assert detail["final_result"] == "out-C" and detail["execution_chain"] == complete["execution_chain"]
    assert [r["node_name"] for r in detail["rounds"]] == ["start", "A", "B", "C"]
    round_b = detail["rounds"][2]
    assert round_b["level"] == 1 and round_b["output_enabled"] is True and round_b["status"] == "completed"
    assert [m["role"] for m in round_b["messages"]] == ["system", "user", "assistant"]
    assert detail["total_token_usage"]["total_tokens"] == 15
    view = (await hub.client.get(f"/graphs/runs/{conversation_id}")).json()
    assert view["status"] == "completed" and view["nodes"]["B"] == {"status": "completed", "runs": 1, "output": "out-B"}


async def test_diamond_middle_nodes_run_at_the_same_time(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    await save(
        hub,
        graph(
            "diamond",
            agent("A", ["start"], ["B", "C"]),
            agent("B", ["A"], ["D"]),
            agent("C", ["A"], ["D"]),
            agent("D", ["B", "C"], ["end"]),
        ),
    )
    llm.script(
        lambda body: Reply(content=f"out-{node_of(body)}", first_token_delay=0.4), when=lambda b: node_of(b) in "BC"
    )

    stream = await run(hub, graph_name="diamond", input_text="go")

    assert stream.done and stream.of_type("graph_complete")[0]["final_result"] == "out-D"
    (b,), (c,) = requests_of(llm, "B"), requests_of(llm, "C")
    assert b.received_at < c.finished_at and c.received_at < b.finished_at, "B and C did not overlap"
    assert sorted(blocks(stream)[2:4]) == ["B", "C"]  # contiguous blocks although they ran together
    d_input = requests_of(llm, "D")[0].body["messages"][1]["content"]
    assert d_input == "out-B\n\nout-C"


async def test_interleaved_mode_sends_events_as_they_happen(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    await save(hub, graph("pair", agent("P", ["start"], ["end"]), agent("Q", ["start"], ["end"])))
    llm.script(lambda body: Reply(content=" ".join(["word"] * 20), chunk_delay=0.02), when=lambda b: node_of(b) in "PQ")

    stream = await run(hub, graph_name="pair", input_text="go", stream_mode="interleaved")

    names = [e["node_name"] for e in stream.chunks]
    first_q = names.index("Q")
    assert "P" in names[first_q:], "the chunks of P and Q were not interleaved"
    assert (
        stream.of_type("graph_complete")[0]["final_result"] == f"{' '.join(['word'] * 20)}\n\n{' '.join(['word'] * 20)}"
    )


def transfer(target: str) -> Reply:
    return Reply(tool_calls=[{"name": f"transfer_to_{target}", "arguments": {}}])


def offers(body: dict[str, Any], tool: str) -> bool:
    return any(t["function"]["name"] == tool for t in body.get("tools") or [])


async def test_router_runs_the_chosen_branch_and_skips_the_other(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    await save(
        hub,
        graph(
            "router",
            agent("R", ["start"], ["X", "Y"], handoffs=1),
            agent("X", ["R"], ["J"]),
            agent("Y", ["R"], ["J"]),
            agent("Z", ["Y"], ["J"]),
            agent("J", ["X", "Z"], ["end"]),
        ),
    )
    llm.script(transfer("X"), when=lambda b: node_of(b) == "R" and b["messages"][-1]["role"] != "tool")
    llm.script(Reply(content="routed"), when=lambda b: node_of(b) == "R")

    stream = await run(hub, graph_name="router", input_text="pick")

    assert blocks(stream) == ["start", "R", "X", "J"]  # Y skipped, and so Z (its only input skipped)
    assert requests_of(llm, "Y") == [] and requests_of(llm, "Z") == []
    tool_results = [e for e in stream.tool_results if e["node_name"] == "R"]
    assert len(tool_results) == 1 and tool_results[0]["tool_call_id"]
    assert stream.of_type("graph_complete")[0]["final_result"] == "out-J"
    assert requests_of(llm, "J")[0].body["messages"][1]["content"] == "out-X"


async def test_loop_runs_exactly_as_often_as_the_handoff_budget_allows(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    await save(hub, graph("loop", agent("A", ["start"], ["B"]), agent("B", ["A"], ["A", "end"], handoffs=2)))
    llm.script(
        transfer("A"),
        when=lambda b: node_of(b) == "B" and offers(b, "transfer_to_A") and b["messages"][-1]["role"] != "tool",
    )
    llm.script(Reply(content="again"), when=lambda b: node_of(b) == "B" and b["messages"][-1]["role"] == "tool")

    stream = await run(hub, graph_name="loop", input_text="iterate")

    assert blocks(stream) == ["start", "A", "B", "A", "B", "A", "B"]
    assert len(requests_of(llm, "A")) == 3
    assert not offers(requests_of(llm, "B")[-1].body, "transfer_to_A")  # budget spent: a plain answer
    assert stream.of_type("graph_complete")[0]["final_result"] == "out-B"


async def test_end_template_keeps_literal_braces(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    template = 'Summary: {B}\nInput: {start}\nJSON: {"a": 1} and {unknown}'
    config = graph("tpl", agent("A", ["start"], ["B"], global_output=True), agent("B", ["A"], ["end"]))
    await save(hub, {**config, "end_template": template})

    stream = await run(hub, graph_name="tpl", input_text="hello")

    assert stream.of_type("graph_complete")[0]["final_result"] == (
        'Summary: out-B\nInput: hello\nJSON: {"a": 1} and {unknown}'
    )


async def test_subgraph_nodes_run_under_their_parent_name(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    await save(hub, graph("inner", agent("I1", ["start"], ["I2"]), agent("I2", ["I1"], ["end"])))
    await save(
        hub,
        graph("outer", agent("A", ["start"], ["S"]), subgraph("S", "inner", ["A"], ["C"]), agent("C", ["S"], ["end"])),
    )

    stream = await run(hub, graph_name="outer", input_text="nest")

    assert blocks(stream) == ["start", "A", "S/I1", "S/I2", "C"]
    inner_event = next(e for e in stream.payloads if e.get("node_name") == "S/I1")
    assert inner_event["run_path"] == "S"
    assert requests_of(llm, "I1")[0].body["messages"][1]["content"] == "out-A"
    assert requests_of(llm, "C")[0].body["messages"][1]["content"] == "out-I2"
    assert stream.of_type("graph_complete")[0]["final_result"] == "out-C"


async def test_cancel_stops_a_run_within_a_second(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    await save(hub, graph("slow", agent("A", ["start"], ["B"]), agent("B", ["A"], ["end"])))
    llm.script(Reply(content="late", first_token_delay=30), when=lambda b: node_of(b) == "B")
    conversation: dict[str, str] = {}

    async def follow() -> StreamTranscript:
        async with hub.client.stream("POST", "/graphs/execute", json={"graph_name": "slow", "input_text": "x"}) as r:
            return await read_stream(r)

    async with anyio.create_task_group() as group:
        results: list[StreamTranscript] = []

        async def collect() -> None:
            results.append(await follow())

        group.start_soon(collect)
        with anyio.fail_after(10):
            while not requests_of(llm, "B"):
                await anyio.sleep(0.02)
        listed = (await hub.client.get("/chat/conversations")).json()["conversations"]
        conversation["id"] = listed[0]["_id"]
        started = anyio.current_time()
        cancelled = await hub.client.post(f"/graphs/runs/{conversation['id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["cancelled"] is True
        assert anyio.current_time() - started < 1.0

    (stream,) = results
    assert stream.done and stream.errors and stream.errors[-1]["message"].startswith("the run cancelled")
    await llm.wait_for(lambda requests: any(r.disconnected for r in requests if node_of(r.body) == "B"), timeout=5)
    view = (await hub.client.get(f"/graphs/runs/{conversation['id']}")).json()
    assert view["status"] == "cancelled" and view["nodes"]["B"]["status"] == "interrupted"


async def test_resume_runs_only_what_did_not_finish(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    await save(
        hub, graph("resumable", agent("A", ["start"], ["B"]), agent("B", ["A"], ["C"]), agent("C", ["B"], ["end"]))
    )
    failing = llm.script(Reply(status=500, error_message="provider down"), when=lambda b: node_of(b) == "B")

    first = await run(hub, graph_name="resumable", input_text="work")
    conversation_id = first.payloads[0]["conversation_id"]
    assert any("provider down" in error["message"] or "B" in error["message"] for error in first.errors)
    assert (await hub.client.get(f"/graphs/runs/{conversation_id}")).json()["status"] == "failed"

    llm.clear_rules()
    resumed = await run(hub, conversation_id=conversation_id, continue_from_checkpoint=True)

    assert blocks(resumed) == ["B", "C"]
    assert len(requests_of(llm, "A")) == 1  # A finished before: not run again
    assert resumed.of_type("graph_complete")[0]["final_result"] == "out-C"
    assert requests_of(llm, "B")[-1].body["messages"][1]["content"] == "out-A"
    assert failing.used >= 1


async def test_a_new_turn_reruns_the_graph_and_keeps_global_outputs(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    config = graph("memory", agent("A", ["start"], ["end"], global_output=True, context=["A"], user_prompt="{start}"))
    await save(hub, config)
    first = await run(hub, graph_name="memory", input_text="one")
    conversation_id = first.payloads[0]["conversation_id"]

    second = await run(hub, conversation_id=conversation_id, input_text="two")

    assert second.of_type("conversation_created") == [] and second.of_type("graph_complete")
    sent = requests_of(llm, "A")[-1].body["messages"][1]["content"]
    assert sent.startswith("two") and "out-A" in sent  # the first turn's global output, as context
    detail = (await hub.client.get(f"/chat/conversations/{conversation_id}")).json()
    assert [r["node_name"] for r in detail["rounds"]] == ["start", "A", "start", "A"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"graph_name": "nope", "input_text": "x"}, 404, "nope"),
        ({"graph_name": "badmodel", "input_text": "x"}, 400, "ghost"),
        ({"graph_name": "badmodel", "input_text": "  "}, 400, "input_text"),
        ({"input_text": "x"}, 400, "graph_name"),
        ({"conversation_id": "missing", "input_text": "x"}, 400, "graph_name"),
        ({"graph_name": "nope", "conversation_id": "conv_1", "input_text": "x"}, 404, "nope"),
        ({"graph_name": "badmodel", "conversation_id": "conv 1", "input_text": "x"}, 400, "conversation_id"),
        ({"graph_name": "badmodel", "conversation_id": "../x", "input_text": "x"}, 400, "conversation_id"),
        ({"graph_name": "badmodel", "conversation_id": "c" * 65, "input_text": "x"}, 400, "1-64"),
        ({"graph_name": "badmodel", "conversation_id": "c1", "continue_from_checkpoint": True}, 404, "to resume"),
        ({"graph_name": "badmodel", "input_text": "x", "stream_mode": "sideways"}, 422, "stream_mode"),
    ],
)
async def test_bad_run_requests_fail_before_streaming(
    hub: RunningMaghub, body: dict[str, Any], status: int, words: str
) -> None:
    await save(hub, graph("badmodel", {**agent("A", ["start"], ["end"]), "model_name": "ghost"}))
    response = await hub.client.post("/graphs/execute", json=body)
    assert response.status_code == status, response.text
    assert words in json.dumps(response.json(), ensure_ascii=False)


async def test_output_disabled_passes_tool_results_downstream_and_saves_files(
    marker: str, hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    toolbox = toolbox_server(marker)
    assert (await hub.client.post("/mcp/add", json={"mcpServers": {"toolbox": toolbox}})).status_code == 200
    fetch = agent("F", ["start"], ["W"], mcp_servers=["toolbox"], output_enabled=False)
    await save(hub, graph("tools", fetch, agent("W", ["F"], ["end"], save="md")))
    llm.script(
        Reply(tool_calls=[{"name": "echo", "arguments": {"text": "fetched data"}}], content="I looked it up."),
        when=lambda b: node_of(b) == "F" and b["messages"][-1]["role"] != "tool",
    )
    llm.script(Reply(content="chatty text the next node must not see"), when=lambda b: node_of(b) == "F")

    stream = await run(hub, graph_name="tools", input_text="look")

    assert requests_of(llm, "W")[0].body["messages"][1]["content"] == "fetched data"
    (tool_event,) = [e for e in stream.tool_results if e["node_name"] == "F"]
    assert tool_event["content"] == "fetched data"
    conversation_id = stream.payloads[0]["conversation_id"]
    view = (await hub.client.get(f"/graphs/runs/{conversation_id}")).json()
    (saved,) = view["saved_files"]
    path = hub.settings.data_dir / saved
    assert path.suffix == ".md" and path.read_text() == "out-W"
    assert path.resolve().is_relative_to(hub.settings.data_dir.resolve())
    await hub.client.delete(f"/chat/conversations/{conversation_id}/permanent")
    assert not path.exists()  # files go with their conversation


async def test_nodes_connect_idle_servers_and_say_why_a_server_offers_no_tools(
    marker: str, hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    server = toolbox_server(marker)
    servers = {"toolbox": server, "off": {**server, "disabled": True}}
    assert (await hub.client.post("/mcp/add", json={"mcpServers": servers})).status_code == 200
    assert (await hub.client.post("/mcp/disconnect/toolbox")).status_code == 200
    await save(hub, graph("tooled", agent("A", ["start"], ["end"], mcp_servers=["toolbox", "off"])))

    stream = await run(hub, graph_name="tooled", input_text="go")

    (request,) = requests_of(llm, "A")
    assert "echo" in {tool["function"]["name"] for tool in request.body["tools"]}
    (notice,) = stream.of_type("notice")
    assert notice["node_name"] == "A" and "MCP server 'off' is disabled" in notice["message"]
    assert (await hub.client.get("/mcp/status")).json()["toolbox"]["connected"] is True


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ({"context_mode": "all"}, "one-out\n\ntwo-out\n\nthree-out"),
        ({"context_mode": "latest"}, "three-out"),
        ({"context_mode": "latest_n", "context_n": 2}, "two-out\n\nthree-out"),
        ({"context_mode": "2"}, "two-out\n\nthree-out"),
    ],
)
async def test_context_modes_select_global_outputs(
    hub: RunningMaghub, llm: ScriptedLLM, mode: dict[str, Any], expected: str
) -> None:
    writer = agent("M", ["start"], ["R"], global_output=True)
    reader = agent("R", ["M"], ["end"], context=["M"], user_prompt="Notes:\n{M}", **mode)
    await save(hub, graph("ctx", writer, reader))
    llm.script(lambda body: Reply(content=f"{body['messages'][-1]['content']}-out"), when=lambda b: node_of(b) == "M")
    first = await run(hub, graph_name="ctx", input_text="one")
    conversation_id = first.payloads[0]["conversation_id"]
    for text in ("two", "three"):
        await run(hub, conversation_id=conversation_id, input_text=text)

    assert requests_of(llm, "R")[-1].body["messages"][1]["content"] == f"Notes:\n{expected}"


async def test_several_transfers_in_one_turn_first_valid_wins_and_all_are_answered(
    hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    await save(
        hub,
        graph(
            "multi",
            agent("R", ["start"], ["X", "Y"], handoffs=3),
            agent("X", ["R"], ["end"]),
            agent("Y", ["R"], ["end"]),
        ),
    )
    calls = [
        {"id": "c0", "name": "transfer_to_Nowhere", "arguments": {}},
        {"id": "c1", "name": "transfer_to_Y", "arguments": {}},
        {"id": "c2", "name": "transfer_to_X", "arguments": {}},
    ]
    llm.script(Reply(tool_calls=calls), when=lambda b: node_of(b) == "R" and b["messages"][-1]["role"] != "tool")

    stream = await run(hub, graph_name="multi", input_text="choose")

    answered = [e["tool_call_id"] for e in stream.tool_results if e["node_name"] == "R"]
    assert answered == ["c0", "c1", "c2"]
    assert blocks(stream) == ["start", "R", "Y"]
    assert stream.of_type("graph_complete")[0]["final_result"] == "out-Y"


async def test_subgraphs_two_deep(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    await save(hub, graph("leaf", agent("L", ["start"], ["end"])))
    await save(hub, graph("middle", agent("M", ["start"], ["T"]), subgraph("T", "leaf", ["M"], ["end"])))
    await save(hub, graph("top", subgraph("S", "middle", ["start"], ["Z"]), agent("Z", ["S"], ["end"])))

    stream = await run(hub, graph_name="top", input_text="deep")

    assert blocks(stream) == ["start", "S/M", "S/T/L", "Z"]
    leaf = next(e for e in stream.payloads if e.get("node_name") == "S/T/L")
    assert leaf["run_path"] == "S/T"
    assert requests_of(llm, "L")[0].body["messages"][1]["content"] == "out-M"
    assert requests_of(llm, "Z")[0].body["messages"][1]["content"] == "out-L"
    detail = (await hub.client.get(f"/chat/conversations/{stream.payloads[0]['conversation_id']}")).json()
    agent_rounds = [r["node_name"] for r in detail["rounds"] if r.get("kind") in ("start", "agent")]
    assert agent_rounds == ["start", "S/M", "S/T/L", "Z"]


async def test_realistic_research_graph(marker: str, hub: RunningMaghub, llm: ScriptedLLM) -> None:
    """Two fetchers with MCP tools in parallel, a summariser each, three writers, an end template."""
    toolbox = toolbox_server(marker)
    assert (await hub.client.post("/mcp/add", json={"mcpServers": {"toolbox": toolbox}})).status_code == 200
    nodes = [
        agent("fetch_news", ["start"], ["sum_news"], mcp_servers=["toolbox"], output_enabled=False),
        agent("fetch_data", ["start"], ["sum_data"], mcp_servers=["toolbox"], output_enabled=False),
        agent("sum_news", ["fetch_news"], ["intro", "body", "outro"], global_output=True),
        agent("sum_data", ["fetch_data"], ["intro", "body", "outro"], global_output=True),
        agent("intro", ["sum_news", "sum_data"], ["end"], user_prompt="Intro from {sum_news} and {sum_data}"),
        agent("body", ["sum_news", "sum_data"], ["end"]),
        agent("outro", ["sum_news", "sum_data"], ["end"], save="md"),
    ]
    template = "# Report on {start}\n\n{intro}\n\n{body}\n\n{outro}\n\nSources: {sum_news:all}"
    await save(hub, {**graph("report", *nodes), "end_template": template})
    for name, text in (("fetch_news", "headline"), ("fetch_data", "numbers")):
        llm.script(
            Reply(tool_calls=[{"name": "echo", "arguments": {"text": text}}], first_token_delay=0.2),
            when=lambda b, n=name: node_of(b) == n and b["messages"][-1]["role"] != "tool",
        )

    llm.script(
        # Long enough that an event loop stalled by a loaded machine cannot hide the overlap.
        lambda body: Reply(content=f"out-{node_of(body)}", first_token_delay=0.5),
        when=lambda b: node_of(b) in ("intro", "body", "outro"),
    )

    stream = await run(hub, graph_name="report", input_text="markets")

    assert stream.done and not stream.errors
    final = stream.of_type("graph_complete")[0]["final_result"]
    assert final == "# Report on markets\n\nout-intro\n\nout-body\n\nout-outro\n\nSources: out-sum_news"
    assert requests_of(llm, "sum_news")[0].body["messages"][1]["content"] == "headline"
    assert requests_of(llm, "intro")[0].body["messages"][1]["content"] == "Intro from out-sum_news and out-sum_data"
    (news,), (data,) = requests_of(llm, "fetch_news")[:1], requests_of(llm, "fetch_data")[:1]
    assert news.received_at < data.finished_at and data.received_at < news.finished_at  # fetched in parallel
    writers = [requests_of(llm, name)[0] for name in ("intro", "body", "outro")]
    spans = [(w.received_at, w.finished_at) for w in writers]
    assert max(w.received_at for w in writers) < min(w.finished_at for w in writers), spans  # writers in parallel


async def test_a_second_run_of_a_busy_conversation_is_refused(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    await save(hub, graph("busy", agent("A", ["start"], ["end"])))
    llm.script(Reply(content="late", first_token_delay=30), when=lambda b: node_of(b) == "A")
    body = {"graph_name": "busy", "input_text": "x", "background": True}
    async with hub.client.stream("POST", "/graphs/execute", json=body) as response:
        async for line in response.aiter_lines():
            if "conversation_created" in line:
                conversation_id = json.loads(line[len("data: ") :])["conversation_id"]
                break
    with anyio.fail_after(10):
        while not requests_of(llm, "A"):
            await anyio.sleep(0.02)

    again = await hub.client.post("/graphs/execute", json={"conversation_id": conversation_id, "input_text": "y"})

    assert again.status_code == 409 and "in progress" in again.json()["detail"]
    assert (await hub.client.post(f"/graphs/runs/{conversation_id}/cancel")).json()["cancelled"] is True
    detail = (await hub.client.get(f"/chat/conversations/{conversation_id}")).json()
    assert [r["node_name"] for r in detail["rounds"]] == ["start", "A"]  # the refused turn stored nothing


async def test_unknown_runs_are_404(hub: RunningMaghub) -> None:
    assert (await hub.client.get("/graphs/runs/nope")).status_code == 404
    cancelled = await hub.client.post("/graphs/runs/nope/cancel")
    assert cancelled.status_code == 404 and "nope" in cancelled.json()["detail"]
    await post_stream(hub.client, "/chat/completions", {"user_prompt": "hi", "model_name": "m", "conversation_id": "c"})
    assert (await hub.client.get("/graphs/runs/c")).status_code == 404  # a chat is not a graph run
    body = {"graph_name": "g", "conversation_id": "c", "input_text": "x"}
    taken = await hub.client.post("/graphs/execute", json=body)
    assert taken.status_code == 409 and "chat conversation" in taken.json()["detail"]


async def test_a_client_chosen_conversation_id_starts_a_run_and_then_continues_it(hub: RunningMaghub) -> None:
    await save(hub, graph("g", agent("A", ["start"], ["end"])))
    first = await run(hub, graph_name="g", input_text="one", conversation_id="conv_123")
    assert first.done and not first.errors
    assert first.payloads[0] == {**first.payloads[0], "conversation_id": "conv_123", "type": "conversation_created"}
    second = await run(hub, graph_name="g", input_text="two", conversation_id="conv_123")
    assert second.done and not second.errors and second.payloads[0]["type"] != "conversation_created"
    view = (await hub.client.get("/graphs/runs/conv_123")).json()
    assert view["status"] == "completed" and view["turn"] == 2 and view["graph_name"] == "g"
    listed = (await hub.client.get("/chat/conversations")).json()["conversations"]
    assert [c["conversation_id"] for c in listed] == ["conv_123"]
