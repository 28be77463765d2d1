"""``GET /graphs/{name}/generate_mcp``: the script it returns is started as a real stdio MCP server
with the MCP SDK's client, and its tool runs the graph on the real maghub (scripted LLM over HTTP)."""

from __future__ import annotations

import ast
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import pytest
from graph_samples import agent, answer_with_name, graph, node_of
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from maghub.graphs.sharing.mcp_export import generate_mcp_script, tool_name_for
from maghub.settings import Settings
from maghub.testing.harness import RunningMaghub, running_maghub
from maghub.testing.process import free_port
from maghub.testing.scripted_llm import Reply, ScriptedLLM

# Quotes of every kind and unicode (graph names cannot hold / \ . { }): none may end a literal in the script.
TRICKY_NAME = "say \"hi\" 'twice' 研究"
TRICKY_DESCRIPTION = 'Ends a docstring: """ or \'\'\'\nthen {braces} and \\" escapes. """'


async def add_model(client: Any, llm: ScriptedLLM, **headers: str) -> None:
    model = {"name": "m", "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
    response = await client.post("/models", json=model, headers=headers)
    assert response.status_code == 200, response.text


@pytest.fixture(autouse=True)
def replies_name_the_node(llm: ScriptedLLM) -> Iterator[None]:
    """Each node answers "out-<name>"; the shared scripted LLM gets its own default back afterwards."""
    original, llm.default_reply = llm.default_reply, answer_with_name
    yield
    llm.default_reply = original


@pytest.fixture
async def hub(maghub: RunningMaghub, llm: ScriptedLLM) -> RunningMaghub:
    await add_model(maghub.client, llm)
    return maghub


async def save(client: Any, config: dict[str, Any], **headers: str) -> None:
    response = await client.post("/api/graphs", json=config, headers=headers)
    assert response.status_code == 200, response.text


async def generated(client: Any, name: str, **headers: str) -> dict[str, Any]:
    response = await client.get(f"/api/graphs/{quote(name, safe='')}/generate_mcp", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@asynccontextmanager
async def mcp_server(script: str, tmp_path: Path, env: dict[str, str] | None = None) -> AsyncIterator[ClientSession]:
    path = tmp_path / "graph_server.py"
    path.write_text(script, encoding="utf-8")
    # env=None gives the server the SDK's minimal default environment: no MAGHUB_* from this process.
    parameters = StdioServerParameters(command=sys.executable, args=[str(path)], env=env)
    async with (
        stdio_client(parameters) as (read, write),
        ClientSession(read, write, read_timeout_seconds=60) as session,
    ):
        await session.initialize()
        yield session


def text_of(result: Any) -> str:
    return "".join(getattr(item, "text", "") for item in result.content)


async def test_the_script_serves_the_graph_as_a_tool(hub: RunningMaghub, llm: ScriptedLLM, tmp_path: Path) -> None:
    config = graph(
        TRICKY_NAME, agent("A", ["start"], ["B"]), agent("B", ["A"], ["end"]), description=TRICKY_DESCRIPTION
    )
    await save(hub.client, config)

    body = await generated(hub.client, TRICKY_NAME)

    assert body["graph_name"] == TRICKY_NAME and body["tool_name"] == "say_hi_twice"
    assert body["maghub_url"] == hub.url
    assert body["script"] == body["sequential_script"] == body["default_script"]
    progress: list[str] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with mcp_server(body["script"], tmp_path) as session:
        (tool,) = (await session.list_tools()).tools
        assert tool.name == "say_hi_twice"
        assert TRICKY_DESCRIPTION in tool.description and repr(TRICKY_NAME) in tool.description
        assert tool.input_schema["required"] == ["input_text"]
        assert set(tool.input_schema["properties"]) == {"input_text", "conversation_id"}

        first = await session.call_tool("say_hi_twice", {"input_text": "the topic"}, progress_callback=on_progress)
        assert not first.is_error, text_of(first)
        assert first.structured_content["final_result"] == "out-B"
        conversation_id = first.structured_content["conversation_id"]
        assert progress == ["node A started (level 0)", "node B started (level 1)"]

        second = await session.call_tool("say_hi_twice", {"input_text": "again", "conversation_id": conversation_id})
        assert not second.is_error, text_of(second)
        assert second.structured_content == {"final_result": "out-B", "conversation_id": conversation_id}

    assert [r.body["messages"][1]["content"] for r in llm.requests if node_of(r.body) == "A"] == ["the topic", "again"]
    detail = (await hub.client.get(f"/api/chat/conversations/{quote(conversation_id, safe='')}")).json()
    assert detail["type"] == "graph" and detail["final_result"] == "out-B"
    assert [r["node_name"] for r in detail["rounds"]] == ["start", "A", "B", "start", "A", "B"]


async def test_run_failures_become_tool_errors(hub: RunningMaghub, llm: ScriptedLLM, tmp_path: Path) -> None:
    await save(hub.client, graph("fragile", agent("A", ["start"], ["end"])))
    script = (await generated(hub.client, "fragile"))["script"]
    llm.script(Reply(status=400, error_message="the prompt is too long"), when=lambda b: node_of(b) == "A")

    async with mcp_server(script, tmp_path) as session:
        failed = await session.call_tool("fragile", {"input_text": "x"})
        assert failed.is_error
        assert "The graph run did not complete: the run failed" in text_of(failed)
        assert "the prompt is too long" in text_of(failed) and "conversation_id fragile_" in text_of(failed)

        # An id that cannot name a new run (a new run may take a client-chosen id like conv_123).
        refused = await session.call_tool("fragile", {"input_text": "x", "conversation_id": "no such run!"})
        assert refused.is_error
        assert "maghub did not start the run (400): There is no run 'no such run!' to continue" in text_of(refused)

        assert (await hub.client.delete("/api/graphs/fragile")).status_code == 200
        gone = await session.call_tool("fragile", {"input_text": "x"})
        assert gone.is_error and "(404)" in text_of(gone) and "fragile" in text_of(gone)


async def test_maghub_url_from_the_environment_wins(hub: RunningMaghub, tmp_path: Path) -> None:
    await save(hub.client, graph("g", agent("A", ["start"], ["end"])))
    script = (await generated(hub.client, "g"))["script"]
    elsewhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    async with mcp_server(script, tmp_path, env={"MAGHUB_URL": elsewhere + "/"}) as session:
        result = await session.call_tool("g", {"input_text": "x"})

    assert result.is_error and f"cannot reach maghub at {elsewhere}/graphs/execute" in text_of(result)


async def test_the_script_sends_the_token_in_auth_mode(settings: Settings, llm: ScriptedLLM, tmp_path: Path) -> None:
    settings.auth_enabled = True
    async with running_maghub(settings) as secured:
        await secured.runtime.users.create("alice", "alice-password", admin=True)
        login = await secured.client.post("/api/auth/login", json={"username": "alice", "password": "alice-password"})
        token = login.json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        await add_model(secured.client, llm, **auth)
        await save(secured.client, graph("private", agent("A", ["start"], ["end"])), **auth)
        script = (await generated(secured.client, "private", **auth))["script"]

        async with mcp_server(script, tmp_path) as session:
            anonymous = await session.call_tool("private", {"input_text": "x"})
        async with mcp_server(script, tmp_path, env={"MAGHUB_TOKEN": token}) as session:
            signed_in = await session.call_tool("private", {"input_text": "x"})

        assert anonymous.is_error and "maghub did not start the run (401)" in text_of(anonymous)
        assert not signed_in.is_error, text_of(signed_in)
        assert signed_in.structured_content["final_result"] == "out-A"
        conversation_id = signed_in.structured_content["conversation_id"]
        run = await secured.client.get(f"/api/graphs/runs/{conversation_id}", headers=auth)
        assert run.json()["status"] == "completed"


async def test_unknown_graph_is_404(hub: RunningMaghub) -> None:
    for path in ("/graphs/nope/generate_mcp", "/api/graphs/nope/generate_mcp"):
        response = await hub.client.get(path)
        assert response.status_code == 404 and "nope" in response.json()["detail"]


@pytest.mark.parametrize("name", [TRICKY_NAME, "研究助手", "a'b", 'x"""y', "tab\there", "line\nbreak", "end\\"])
def test_user_text_is_embedded_as_literals_only(name: str) -> None:
    script = generate_mcp_script(name, TRICKY_DESCRIPTION, f"# {name}\n\n{TRICKY_DESCRIPTION}\n", "http://h:1/")
    tree = ast.parse(script.source)  # still valid Python
    constants = {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.targets[0], ast.Name)
    }
    assert constants["GRAPH_NAME"] == name
    assert constants["DEFAULT_MAGHUB_URL"] == "http://h:1"
    assert TRICKY_DESCRIPTION in constants["TOOL_DESCRIPTION"]
    # Every top-level statement is what the template has: the user's text added no code.
    template = generate_mcp_script("plain", "", "", "http://h:1")
    assert [type(node) for node in tree.body] == [type(node) for node in ast.parse(template.source).body]


@pytest.mark.parametrize(
    ("graph_name", "tool_name"),
    [("research", "research"), ("my graph-2", "my_graph-2"), ("研究助手", "run_graph"), ("__a  b__", "a_b")],
)
def test_tool_names_are_valid_for_every_client(graph_name: str, tool_name: str) -> None:
    assert tool_name_for(graph_name) == tool_name
    assert len(tool_name_for("x" * 200)) == 64


async def test_a_cancelled_tool_call_cancels_the_run(hub: RunningMaghub, llm: ScriptedLLM, tmp_path: Path) -> None:
    await save(hub.client, graph("slow", agent("A", ["start"], ["end"])))
    script = (await generated(hub.client, "slow"))["script"]
    llm.script(Reply(content="too late", first_token_delay=30), when=lambda b: node_of(b) == "A")

    async with mcp_server(script, tmp_path) as session:
        with anyio.move_on_after(20) as waiting:
            async with anyio.create_task_group() as group:
                group.start_soon(session.call_tool, "slow", {"input_text": "x"})
                await llm.wait_for(lambda requests: any(node_of(r.body) == "A" for r in requests), timeout=15)
                group.cancel_scope.cancel()  # the client gives up on the call
        assert not waiting.cancelled_caught
        await llm.wait_for(lambda requests: any(r.disconnected for r in requests), timeout=10)

    (listed,) = (await hub.client.get("/chat/conversations")).json()["conversations"]
    assert (await hub.client.get(f"/graphs/runs/{listed['_id']}")).json()["status"] == "cancelled"
