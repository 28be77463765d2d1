"""Graph generation end to end (SPEC §11): the prompt templates, ``POST /graphs/generate`` over several
turns with the scripted LLM speaking the tag protocol, the finish command, and every bad input."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from maghub.generation.prompts import GRAPH_DESIGN_MARKER, OPTIMIZATION_HEADING
from maghub.testing.harness import RunningMaghub
from maghub.testing.mcp_servers.harness import MARKER_VARIABLE
from maghub.testing.scripted_llm import Reply, ScriptedLLM
from maghub.testing.sse import StreamTranscript, post_stream

MODEL = "scripted"
FINISH = "<end>END</end>"


def is_title_request(body: dict[str, Any]) -> bool:
    return "<title>" in json.dumps(body.get("messages"), ensure_ascii=False)


def is_design_request(body: dict[str, Any]) -> bool:
    messages = body.get("messages") or []
    return bool(messages) and messages[0].get("role") == "system" and GRAPH_DESIGN_MARKER in messages[0]["content"]


def node(name: str, inputs: list[str], outputs: list[str], model: str = MODEL, **fields: Any) -> str:
    config = {
        "name": name,
        "description": f"the {name} step",
        "model_name": model,
        "system_prompt": f"You are the {name}.",
        "user_prompt": "",
        "input_nodes": inputs,
        "output_nodes": outputs,
        **fields,
    }
    return f"<node>{json.dumps(config)}</node>"


FIRST_REPLY = (
    "<analysis>Two steps: outline, then write.</analysis>\n<todo>1. outline 2. writer</todo>\n"
    "<graph_name>summariser</graph_name>\n<graph_description>Outlines, then writes a summary.</graph_description>\n"
    + node("outline", ["start"], ["writer"])
)
SECOND_REPLY = "Here is the writer.\n" + node("writer", ["outline"], ["end"]) + "<end_template>{writer}</end_template>"


@pytest.fixture
async def hub(maghub: RunningMaghub, llm: ScriptedLLM) -> AsyncIterator[RunningMaghub]:
    model = {"name": MODEL, "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
    assert (await maghub.client.post("/models", json=model)).status_code == 200
    llm.script(Reply(content="<title>Summariser design</title><tags>graph</tags>"), when=is_title_request)
    yield maghub


def design(requirement: str, conversation_id: str | None = None, **fields: Any) -> dict[str, Any]:
    body = {"requirement": requirement, "model_name": MODEL, **fields}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    return body


async def generate(hub: RunningMaghub, body: dict[str, Any]) -> StreamTranscript:
    return await post_stream(hub.client, "/api/graphs/generate", body)


async def finish(hub: RunningMaghub, conversation_id: str) -> StreamTranscript:
    return await generate(hub, {"requirement": FINISH, "conversation_id": conversation_id})


def design_requests(llm: ScriptedLLM) -> list[Any]:
    return [request for request in llm.requests if is_design_request(request.body)]


async def two_turn_design(hub: RunningMaghub, llm: ScriptedLLM) -> str:
    llm.script(Reply(content=FIRST_REPLY, chunk_size=5), when=is_design_request, times=1)
    llm.script(Reply(content=SECOND_REPLY), when=is_design_request, times=1)
    first = await generate(hub, design("Summarise texts in two steps"))
    (created,) = first.of_type("conversation_created")
    conversation_id = created["conversation_id"]
    assert first.payloads[0] == created and conversation_id.startswith("gen_")
    assert first.done and not first.errors and first.text == FIRST_REPLY
    second = await generate(hub, design("Add the writer", conversation_id))
    assert second.done and not second.errors and not second.of_type("conversation_created")
    return conversation_id


async def test_a_graph_designed_in_two_turns_is_saved_and_runs(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    conversation_id = await two_turn_design(hub, llm)

    first_call, second_call = design_requests(llm)
    system = first_call.body["messages"][0]["content"]
    assert f"`{MODEL}`" in system and "<node>" in system and OPTIMIZATION_HEADING not in system
    assert [m["role"] for m in second_call.body["messages"]] == ["system", "user", "assistant", "user"]
    assert second_call.body["messages"][0]["content"] == system  # the session keeps its prompt
    assert "tools" not in second_call.body

    detail = (await hub.client.get(f"/chat/conversations/{conversation_id}")).json()
    assert detail["type"] == "agent" and detail["generation_type"] == "graph"
    assert detail["title"] == "Summariser design" and detail["round_count"] == 2
    assert [n["name"] for n in detail["parsed_results"]["nodes"]] == ["outline", "writer"]
    assert detail["parsed_results"]["end_template"] == "{writer}"
    assert detail["total_token_usage"]["total_tokens"] > 0
    listed = (await hub.client.get("/chat/conversations")).json()["conversations"]
    assert [item["_id"] for item in listed] == [conversation_id]

    done = await finish(hub, conversation_id)
    assert done.done and not done.errors
    (completion,) = [event["completion"] for event in done.payloads]
    assert completion["graph_name"] == "summariser" and completion["version"] == 1 and completion["created"]
    assert "生成完成" in completion["message"]
    saved = (await hub.client.get("/graphs/summariser")).json()
    assert [n["name"] for n in saved["nodes"]] == ["outline", "writer"] and saved["end_template"] == "{writer}"
    detail = (await hub.client.get(f"/chat/conversations/{conversation_id}")).json()
    assert detail["final_graph_config"]["name"] == "summariser"
    assert detail["last_finish"]["status"] == "completed"

    llm.script(Reply(content="outlined"), when=lambda body: "You are the outline." in json.dumps(body), times=1)
    llm.script(Reply(content="the summary"), when=lambda body: "You are the writer." in json.dumps(body), times=1)
    run = await post_stream(hub.client, "/graphs/execute", {"graph_name": "summariser", "input_text": "a text"})
    (complete,) = run.of_type("graph_complete")
    assert complete["final_result"] == "the summary" and not run.errors


async def test_finishing_twice_saves_once_even_at_the_same_moment(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    conversation_id = await two_turn_design(hub, llm)

    first, second = await asyncio.gather(finish(hub, conversation_id), finish(hub, conversation_id))

    completions = sorted(
        (event["completion"] for stream in (first, second) for event in stream.payloads),
        key=lambda c: "already_saved" in c,
    )
    assert [c.get("already_saved", False) for c in completions] == [False, True]
    assert {c["graph_name"] for c in completions} == {"summariser"}
    assert (await hub.client.get("/graphs/summariser")).json()["version"] == 1


async def test_a_continued_design_saves_the_next_version_of_the_graph_it_created(
    hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    conversation_id = await two_turn_design(hub, llm)
    assert (await finish(hub, conversation_id)).payloads[0]["completion"]["version"] == 1
    llm.script(Reply(content="<graph_description>Better.</graph_description>"), when=is_design_request, times=1)
    await generate(hub, design("Describe it better", conversation_id))

    again = await finish(hub, conversation_id)

    assert again.payloads[0]["completion"]["version"] == 2
    assert (await hub.client.get("/graphs/summariser")).json()["description"] == "Better."


async def test_an_invalid_design_is_refused_with_every_problem_and_nothing_is_saved(
    hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    reply = (
        "<graph_name>broken</graph_name>"
        + node("a", ["start"], ["ghost"], model="no-such-model", mcp_servers=["nowhere"])
        + node("b", ["a"], [], context_mode="sometimes")
    )
    llm.script(Reply(content=reply), when=is_design_request, times=1)
    conversation_id = (await generate(hub, design("Something broken"))).of_type("conversation_created")[0][
        "conversation_id"
    ]

    done = await finish(hub, conversation_id)

    (incomplete,) = [event["incomplete"] for event in done.payloads]
    assert incomplete["missing_fields"] == ["graph_description"]
    fields = {(p["node"], p["field"]) for p in incomplete["problems"]}
    assert {("a", "model_name"), ("a", "mcp_servers"), ("a", "output_nodes"), ("b", "context_mode")} <= fields
    assert any(p["field"] == "output_nodes" and "end" in p["message"] for p in incomplete["problems"]) or any(
        "end" in p["message"] for p in incomplete["problems"] if p["node"] is None
    )
    assert "graph_description" in incomplete["message"] and "no-such-model" in incomplete["message"]
    assert (await hub.client.get("/graphs")).json() == []
    detail = (await hub.client.get(f"/chat/conversations/{conversation_id}")).json()
    assert detail["last_finish"]["status"] == "incomplete" and "final_graph_config" not in detail


async def test_a_new_design_never_replaces_an_existing_graph(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    existing = {
        "name": "summariser",
        "description": "mine",
        "nodes": [json.loads(node("only", ["start"], ["end"])[6:-7])],
    }
    assert (await hub.client.post("/graphs", json=existing)).status_code == 200
    conversation_id = await two_turn_design(hub, llm)

    done = await finish(hub, conversation_id)

    (incomplete,) = [event["incomplete"] for event in done.payloads]
    assert [p["field"] for p in incomplete["problems"]] == ["graph_name"]
    assert "exists already" in incomplete["problems"][0]["message"]
    stored = (await hub.client.get("/graphs/summariser")).json()
    assert stored["description"] == "mine" and stored["version"] == 1


async def test_improving_a_graph_starts_from_it_and_saves_its_next_version(
    hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    only = json.loads(node("only", ["start"], ["end"])[6:-7])
    existing = {"name": "report", "description": "old", "nodes": [only], "max_parallel_nodes": 3}
    assert (await hub.client.post("/graphs", json=existing)).status_code == 200
    reply = "<analysis>Needs a sharper description.</analysis><graph_description>Writes a report.</graph_description>"
    llm.script(Reply(content=reply), when=is_design_request, times=1)

    stream = await generate(hub, design("Make it sharper", "improve-1", graph_name="report"))
    done = await finish(hub, "improve-1")

    system = design_requests(llm)[0].body["messages"][0]["content"]
    assert OPTIMIZATION_HEADING in system and '"description": "old"' in system
    assert not stream.of_type("conversation_created")  # the client chose the id
    assert done.payloads[0]["completion"] == {
        "graph_name": "report",
        "message": "图 'report' 生成完成！",
        "version": 2,
        "created": False,
        "warnings": [],
    }
    stored = (await hub.client.get("/graphs/report")).json()
    assert stored["description"] == "Writes a report." and [n["name"] for n in stored["nodes"]] == ["only"]
    assert stored["max_parallel_nodes"] == 3  # settings beyond the tags are kept

    other = await hub.client.post("/graphs/generate", json=design("more", "improve-1", graph_name="other"))
    assert other.status_code == 409 and "improves graph 'report'" in other.json()["detail"]


async def test_tags_are_applied_in_order_and_bad_node_json_is_reported(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    reply = (
        node("a", ["start"], ["end"])
        + "<delete_node>a</delete_node>"
        + node("b", ["start"], ["end"])
        + "<node>{'name': 'c',}</node>"
        + "<delete_node>b</delete_node>"
        + node("b", ["start"], ["end"], description="again")
    )
    llm.script(Reply(content=reply), when=is_design_request, times=1)

    stream = await generate(hub, design("order", "order-1"))

    (error,) = stream.errors
    assert error["type"] == "format_error" and "not valid JSON" in error["message"] and "'c'" in error["message"]
    assert stream.events[-1] == "[DONE]"
    parsed = (await hub.client.get("/chat/conversations/order-1")).json()["parsed_results"]
    assert [(n["name"], n["description"]) for n in parsed["nodes"]] == [("b", "again")]


async def test_bad_generation_requests_fail_before_streaming(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    chat = {"user_prompt": "hi", "model_name": MODEL, "conversation_id": "a-chat"}
    await post_stream(hub.client, "/chat/completions", chat)
    llm.script(Reply(content="<graph_name>x</graph_name>"), when=is_design_request, times=1)
    await generate(hub, design("a design", "mine-1"))

    async def status(body: dict[str, Any], path: str = "/graphs/generate") -> tuple[int, str]:
        response = await hub.client.post(path, json=body)
        return response.status_code, response.json()["detail"]

    assert (await status(design("   ")))[0] == 400
    assert (await status({"requirement": "x", "model_name": ""}))[0] == 400
    assert (await status(design("x", model_name="nope")))[0] == 404
    code, detail = await status(design("x", graph_name="no-such-graph"))
    assert code == 404 and "no-such-graph" in detail
    code, detail = await status({"requirement": FINISH})
    assert code == 400 and "conversation_id" in detail
    code, detail = await status({"requirement": f"  {FINISH}\n", "conversation_id": "never-seen"})
    assert code == 404 and "never-seen" in detail
    code, detail = await status(design("x", "a-chat"))
    assert code == 409 and "chat" in detail
    assert (await status({"requirement": FINISH, "conversation_id": "a-chat"}))[0] == 409
    assert (await status(design("x", "mine-1", user_id="bob")))[0] == 404
    assert (await status(design("x", "mine-1", graph_name="no-such-graph")))[0] == 409
    assert (await status(design("x", "  ")))[0] == 400
    assert (await hub.client.get("/graphs")).json() == []
    assert (await hub.client.get("/chat/conversations/a-chat")).json()["round_count"] == 1


async def test_generation_sessions_are_deletable_conversations(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    llm.script(Reply(content=FIRST_REPLY), when=is_design_request, times=1)
    await generate(hub, design("one", "gone-1"))

    deleted = await hub.client.delete("/chat/conversations/gone-1/permanent")

    assert deleted.status_code == 200
    assert (await hub.client.get("/chat/conversations/gone-1")).status_code == 404
    assert (
        await hub.client.post("/graphs/generate", json={"requirement": FINISH, "conversation_id": "gone-1"})
    ).status_code == 404


async def test_prompt_templates_list_models_and_connected_tools_without_waiting(
    marker: str, hub: RunningMaghub
) -> None:
    toolbox = {
        "command": sys.executable,
        "args": ["-m", "maghub.testing.mcp_servers.toolbox"],
        "env": {MARKER_VARIABLE: marker},
    }
    added = await hub.client.post("/mcp/add", json={"mcpServers": {"toolbox": toolbox}})
    assert added.json()["servers"]["toolbox"]["connected"] is True, added.text
    offline = {"command": "no-such-command-xyz", "args": [], "disabled": True}
    assert (await hub.client.post("/mcp/add", json={"mcpServers": {"offline": offline}})).status_code == 200

    template = (await hub.client.get("/prompt-template")).json()

    assert GRAPH_DESIGN_MARKER in template["prompt"] and f"`{MODEL}`" in template["prompt"]
    assert "{MODELS_DESCRIPTION}" not in template["prompt"] and "{TOOLS_DESCRIPTION}" not in template["prompt"]
    assert template["unavailable_servers"] == [{"name": "offline", "state": "disabled"}]
    assert "### Server `toolbox`" in template["prompt"] and "- `echo`: Return the text unchanged." in template["prompt"]
    assert "`offline`: disabled" in template["prompt"] and "offline" in template["note"]

    blank = (await hub.client.get("/api/optimize-prompt-template")).json()
    assert blank["has_graph_config"] is False and "{GRAPH_CONFIG}" in blank["prompt"] and blank["note"]
    assert (await hub.client.get("/optimize-prompt-template", params={"graph_name": "nope"})).status_code == 404
    existing = {"name": "report", "description": "old", "nodes": [json.loads(node("only", ["start"], ["end"])[6:-7])]}
    await hub.client.post("/graphs", json=existing)
    filled = (await hub.client.get("/optimize-prompt-template", params={"graph_name": "report"})).json()
    assert filled["has_graph_config"] is True and filled["graph_name"] == "report"
    assert '"description": "old"' in filled["prompt"] and "{GRAPH_CONFIG}" not in filled["prompt"]


async def test_a_failed_model_call_is_reported_and_kept_as_an_interrupted_round(
    hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    llm.script(Reply(status=400, error_message="context too long"), when=is_design_request, times=1)
    llm.script(Reply(content=FIRST_REPLY), when=is_design_request, times=1)

    failed = await generate(hub, design("first try", "fails-1"))
    retried = await generate(hub, design("second try", "fails-1"))

    (error,) = failed.errors
    assert error["type"] == "model_error" and "context too long" in error["message"]
    assert not retried.errors
    detail = (await hub.client.get("/chat/conversations/fails-1")).json()
    assert [r["status"] for r in detail["rounds"]] == ["interrupted", "completed"]
    assert detail["parsed_results"]["graph_name"] == "summariser"
    roles = [m["role"] for m in design_requests(llm)[-1].body["messages"]]
    assert roles == ["system", "user", "user"]


async def test_a_client_that_leaves_mid_reply_leaves_an_interrupted_round(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    slow = Reply(content=" ".join(f"word{i}" for i in range(200)), chunk_delay=0.02)
    llm.script(slow, when=is_design_request, times=1)

    async with hub.client.stream("POST", "/graphs/generate", json=design("slow", "left-1")) as response:
        async for line in response.aiter_lines():
            if "word3" in line:
                break

    async def interrupted() -> dict[str, Any]:
        detail = (await hub.client.get("/chat/conversations/left-1")).json()
        assert detail["rounds"][0]["status"] == "interrupted"
        return detail

    for _ in range(100):
        try:
            detail = await interrupted()
            break
        except AssertionError:
            await asyncio.sleep(0.05)
    else:
        detail = await interrupted()
    (last,) = [m for m in detail["rounds"][0]["messages"] if m["role"] == "assistant"]
    assert last["content"].startswith("word0") and last["interrupted"] is True
    (request,) = design_requests(llm)
    assert request.disconnected  # the model's stream was closed too


async def test_a_saved_design_whose_graph_was_deleted_is_saved_again(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    conversation_id = await two_turn_design(hub, llm)
    assert (await finish(hub, conversation_id)).payloads[0]["completion"]["created"] is True
    assert (await hub.client.delete("/graphs/summariser")).status_code == 200

    again = await finish(hub, conversation_id)

    completion = again.payloads[0]["completion"]
    assert completion["created"] is True and "already_saved" not in completion
    assert (await hub.client.get("/graphs/summariser")).status_code == 200
