"""MCP tool generation end to end (SPEC §11): ``POST /mcp/generate`` over several turns with the
scripted LLM speaking the tag protocol, the finish command registering the tool through the tool
registry (real uv environments, the tool run as a real stdio MCP server), and every bad input.

Tests that build a tool's environment are marked ``slow``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from maghub.generation.prompts import GRAPH_DESIGN_MARKER, TOOL_DESIGN_MARKER
from maghub.testing.harness import RunningMaghub
from maghub.testing.scripted_llm import Reply, ScriptedLLM
from maghub.testing.sse import StreamTranscript, post_stream

MODEL = "scripted"
FINISH = "<end>END</end>"

MAIN = '''from mcp.server.mcpserver import MCPServer

import shout_lib

mcp = MCPServer("shouter", log_level="WARNING")


@mcp.tool()
def shout(text: str) -> str:
    """Upper-case a text."""
    return shout_lib.shout(text)


if __name__ == "__main__":
    mcp.run()
'''
FIRST_REPLY = (
    "<analysis>One tool that shouts.</analysis><todo>main.py, then the README</todo>"
    "<folder_name>shouter</folder_name>"
    f'<script_file name="main.py">\n```python\n{MAIN}```\n</script_file>'
    "<script_file name='draft.py'>x = 1</script_file>"
)
SECOND_REPLY = (
    "<delete_script_file>draft.py</delete_script_file>"
    '<script_file name="shout_lib.py">def shout(text):\n    return text.upper() + "!"\n</script_file>'
    "<dependencies></dependencies><readme># Shouter\n\n`shout(text)` upper-cases a text.</readme>"
)


def is_title_request(body: dict[str, Any]) -> bool:
    return "<title>" in json.dumps(body.get("messages"), ensure_ascii=False)


def is_tool_request(body: dict[str, Any]) -> bool:
    messages = body.get("messages") or []
    return bool(messages) and messages[0].get("role") == "system" and TOOL_DESIGN_MARKER in messages[0]["content"]


@pytest.fixture
async def hub(maghub: RunningMaghub, llm: ScriptedLLM) -> AsyncIterator[RunningMaghub]:
    model = {"name": MODEL, "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
    assert (await maghub.client.post("/models", json=model)).status_code == 200
    llm.script(Reply(content="<title>Shouter</title><tags>tool</tags>"), when=is_title_request)
    yield maghub


def turn(requirement: str, conversation_id: str | None = None) -> dict[str, Any]:
    body = {"requirement": requirement, "model_name": MODEL}
    return body if conversation_id is None else {**body, "conversation_id": conversation_id}


async def generate(hub: RunningMaghub, body: dict[str, Any]) -> StreamTranscript:
    return await post_stream(hub.client, "/api/mcp/generate", body)


async def finish(hub: RunningMaghub, conversation_id: str) -> StreamTranscript:
    return await generate(hub, {"requirement": FINISH, "conversation_id": conversation_id})


def tool_folders(hub: RunningMaghub) -> list[str]:
    folder: Path = hub.runtime.settings.data_dir / "tools"
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


async def design_in_two_turns(hub: RunningMaghub, llm: ScriptedLLM, second: str = SECOND_REPLY) -> str:
    llm.script(Reply(content=FIRST_REPLY, chunk_size=7), when=is_tool_request, times=1)
    llm.script(Reply(content=second), when=is_tool_request, times=1)
    first = await generate(hub, turn("A tool that shouts"))
    conversation_id = first.of_type("conversation_created")[0]["conversation_id"]
    assert conversation_id.startswith("mcp_") and not first.errors and first.text == FIRST_REPLY
    assert not (await generate(hub, turn("Now the README", conversation_id))).errors
    return conversation_id


@pytest.mark.slow
async def test_a_tool_designed_in_two_turns_is_registered_and_answers(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    conversation_id = await design_in_two_turns(hub, llm)
    system = next(r for r in llm.requests if is_tool_request(r.body)).body["messages"][0]["content"]
    assert system.startswith(TOOL_DESIGN_MARKER) and "MCPServer" in system and "{TOOLS_DESCRIPTION}" not in system
    detail = (await hub.client.get(f"/chat/conversations/{conversation_id}")).json()
    assert detail["generation_type"] == "mcp" and detail["title"] == "Shouter"
    assert sorted(detail["parsed_results"]["script_files"]) == ["main.py", "shout_lib.py"]
    assert detail["parsed_results"]["script_files"]["main.py"] == MAIN.strip()  # the code fence is gone

    first, second = await asyncio.gather(finish(hub, conversation_id), finish(hub, conversation_id))

    completions = [event["completion"] for stream in (first, second) for event in stream.payloads]
    assert sorted(c.get("already_saved", False) for c in completions) == [False, True]
    assert {c["tool_name"] for c in completions} == {"shouter"}
    assert "生成完成" in completions[0]["message"]
    assert (await hub.client.get("/mcp/ai-tools")).json() == ["shouter"]
    called = await hub.client.post(
        "/mcp/test-tool", json={"server_name": "shouter", "tool_name": "shout", "params": {"text": "hi"}}
    )
    assert "HI!" in json.dumps(called.json())
    detail = (await hub.client.get(f"/chat/conversations/{conversation_id}")).json()
    assert detail["final_tool"]["folder_name"] == "shouter" and detail["last_finish"]["status"] == "completed"


@pytest.mark.slow
async def test_a_tool_that_fails_to_register_leaves_nothing_and_says_why(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    broken = SECOND_REPLY.replace("<dependencies></dependencies>", "<dependencies>no-such-package-zz9q</dependencies>")
    conversation_id = await design_in_two_turns(hub, llm, broken)

    done = await finish(hub, conversation_id)

    (error,) = done.errors
    assert error["type"] == "assembly_error" and "no-such-package-zz9q" in error["message"]
    assert tool_folders(hub) == [] and "shouter" not in (await hub.client.get("/mcp/config")).json()["mcpServers"]
    detail = (await hub.client.get(f"/chat/conversations/{conversation_id}")).json()
    assert detail["last_finish"]["status"] == "failed" and "final_tool" not in detail


async def test_an_incomplete_or_hostile_design_is_refused_before_anything_is_written(
    hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    reply = (
        "<folder_name>../evil</folder_name>"
        '<script_file name="../../escape.py">import os</script_file>'
        '<script_file name="helper.py">x = 1</script_file>'
    )
    llm.script(Reply(content=reply), when=is_tool_request, times=1)
    offline = {"command": "no-such-command-xyz", "args": [], "disabled": True}
    assert (await hub.client.post("/mcp/add", json={"mcpServers": {"offline": offline}})).status_code == 200
    stream = await generate(hub, turn("something hostile", "hostile-1"))
    system = next(r for r in llm.requests if is_tool_request(r.body)).body["messages"][0]["content"]
    assert "- `offline`: disabled" in system  # the servers whose tools are not listed are named

    (error,) = stream.errors
    assert error["type"] == "format_error" and "escape.py" in error["message"]
    parsed = (await hub.client.get("/chat/conversations/hostile-1")).json()["parsed_results"]
    assert list(parsed["script_files"]) == ["helper.py"]

    done = await finish(hub, "hostile-1")

    (incomplete,) = [event["incomplete"] for event in done.payloads]
    assert incomplete["missing_fields"] == ["script_files[main.py]", "readme"]
    assert [p["field"] for p in incomplete["problems"]] == ["folder_name"]
    assert "../evil" in incomplete["problems"][0]["message"]
    assert tool_folders(hub) == []


async def test_bad_tool_generation_requests_fail_before_streaming(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    await post_stream(
        hub.client, "/chat/completions", {"user_prompt": "hi", "model_name": MODEL, "conversation_id": "c1"}
    )
    llm.script(Reply(content="<graph_name>g</graph_name>"), when=lambda body: GRAPH_DESIGN_MARKER in json.dumps(body))
    await post_stream(hub.client, "/graphs/generate", turn("a graph", "graph-1"))

    async def status(body: dict[str, Any]) -> int:
        return (await hub.client.post("/mcp/generate", json=body)).status_code

    assert await status(turn(" \n ")) == 400
    assert await status({**turn("x"), "model_name": "missing"}) == 404
    assert await status({"requirement": FINISH, "conversation_id": "nope"}) == 404
    assert await status({"requirement": FINISH}) == 400
    assert await status(turn("x", "c1")) == 409
    assert await status(turn("x", "graph-1")) == 409
    assert await status({"requirement": FINISH, "conversation_id": "graph-1"}) == 409


async def test_only_admins_generate_tools_in_auth_mode(
    secured: RunningMaghub, sign_in: Callable[[str], Awaitable[dict[str, str]]], llm: ScriptedLLM
) -> None:
    root, alice = await sign_in("root"), await sign_in("alice")
    model = {"name": MODEL, "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
    assert (await secured.client.post("/models", json=model, headers=root)).status_code == 200
    llm.script(Reply(content="<analysis>ok</analysis>"), when=is_tool_request)

    refused = await secured.client.post("/mcp/generate", json=turn("x"), headers=alice)
    anonymous = await secured.client.post("/mcp/generate", json=turn("x"))
    async with secured.client.stream("POST", "/mcp/generate", json=turn("x", "admin-1"), headers=root) as response:
        assert response.status_code == 200
        await response.aread()

    assert refused.status_code == 403 and anonymous.status_code == 401
    mine = (await secured.client.get("/chat/conversations", headers=root)).json()["conversations"]
    assert [item["_id"] for item in mine] == ["admin-1"] and mine[0]["user_id"] == "root"
    theirs = await secured.client.get("/chat/conversations/admin-1", headers=alice)
    assert theirs.status_code == 404
    graph_turn = await secured.client.post("/graphs/generate", json=turn("g", "admin-1"), headers=alice)
    assert graph_turn.status_code == 404  # someone else's conversation, whatever its kind
