"""The MCP gateway (SPEC §13) over real HTTP with the official SDK client: graphs as tools (real runs
with the scripted LLM), tools, resources and prompts of real MCP servers passed through, both
protocol eras, cancellation, bad input, and the bearer rules of auth mode."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import pytest
from graph_samples import agent, answer_with_name, graph

from maghub.testing.harness import RunningMaghub
from maghub.testing.mcp_servers.harness import MARKER_VARIABLE
from maghub.testing.scripted_llm import ScriptedLLM

pytestmark = pytest.mark.anyio


def server_command(module: str, marker: str) -> dict[str, Any]:
    return {
        "command": sys.executable,
        "args": ["-m", f"maghub.testing.mcp_servers.{module}"],
        "env": {MARKER_VARIABLE: marker},
    }


@pytest.fixture
async def hub(marker: str, maghub: RunningMaghub, llm: ScriptedLLM) -> AsyncIterator[RunningMaghub]:
    model = {"name": "m", "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
    assert (await maghub.client.post("/models", json=model)).status_code == 200
    llm.default_reply = answer_with_name
    graph_config = graph(
        "two steps", agent("A", ["start"], ["B"]), agent("B", ["A"], ["end"]), description="Two agents in a row."
    )
    assert (await maghub.client.post("/api/graphs", json=graph_config)).status_code == 200
    servers = {"toolbox": server_command("toolbox", marker), "media": server_command("media", marker)}
    assert (await maghub.client.post("/mcp/add", json={"mcpServers": servers})).status_code == 200
    await maghub.runtime.mcp.manager.wait_settled(timeout=30)
    yield maghub


def client(
    hub: RunningMaghub, path: str = "/gateway/mcp", *, mode: str = "auto", headers: dict[str, str] | None = None
):
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(headers=headers or {}, timeout=httpx2.Timeout(30, read=60))
    return Client(streamable_http_client(f"{hub.url}{path}", http_client=http), mode=mode)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_graph_tool_runs_the_graph_and_reports_progress(hub: RunningMaghub, mode: str) -> None:
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    async with client(hub, mode=mode) as mcp:
        assert mcp.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
        tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
        assert {"two_steps", "toolbox__echo", "media__picture"} <= set(tools)
        described = tools["two_steps"]
        assert "Two agents in a row." in (described.description or "")
        assert described.input_schema["required"] == ["input"]

        result = await mcp.call_tool("two_steps", {"input": "the topic"}, progress_callback=on_progress)

    assert not result.is_error
    assert result.content[0].text == "out-B"
    structured = result.structured_content
    assert structured["status"] == "completed" and structured["execution_chain"] == [["start", "A"], ["B"]]
    assert [message for _, message in progress] == [
        "node A started",
        "node A finished",
        "node B started",
        "node B finished",
    ]
    assert [value for value, _ in progress] == [1, 2, 3, 4]
    # The same run as POST /graphs/execute makes: stored, owned, in the run history.
    view = (await hub.client.get(f"/graphs/runs/{structured['conversation_id']}")).json()
    assert view["status"] == "completed" and view["final_result"] == "out-B"
    listed = (await hub.client.get("/api/chat/conversations")).json()
    assert structured["conversation_id"] in str(listed)


async def test_a_conversation_continues_through_the_gateway(hub: RunningMaghub) -> None:
    async with client(hub) as mcp:
        first = await mcp.call_tool("two_steps", {"input": "one"})
        conversation_id = first.structured_content["conversation_id"]
        second = await mcp.call_tool("two_steps", {"input": "two", "conversation_id": conversation_id})
    assert second.structured_content["conversation_id"] == conversation_id
    view = (await hub.client.get(f"/graphs/runs/{conversation_id}")).json()
    assert view["turn"] == 2


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_proxied_tools_pass_through_unchanged(hub: RunningMaghub, mode: str) -> None:
    async with client(hub, mode=mode) as mcp:
        tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
        assert tools["toolbox__add"].input_schema["properties"].keys() == {"a", "b"}
        assert tools["toolbox__forecast"].output_schema is not None

        echo = await mcp.call_tool("toolbox__echo", {"text": "hi"})
        assert echo.content[0].text == "hi" and not echo.is_error
        forecast = await mcp.call_tool("toolbox__forecast", {"city": "Oslo"})
        assert forecast.structured_content == {"city": "Oslo", "temperature_c": 21.5, "conditions": "sunny"}
        picture = await mcp.call_tool("media__picture", {})
        assert [block.type for block in picture.content] == ["text", "image", "resource"]
        assert picture.content[1].mime_type == "image/png" and picture.content[1].data.startswith("iVBOR")
        assert picture.content[2].resource.text == "caption"
        assert picture.structured_content == {"width": 1, "height": 1}
        refused = await mcp.call_tool("media__refuse", {"reason": "no"})
        assert refused.is_error and refused.content[0].text == "refused: no"
        failed = await mcp.call_tool("toolbox__fail", {"message": "nope"})
        assert failed.is_error and "nope" in failed.content[0].text
        # Arguments that break the tool's schema: the server's own verdict, as an error result.
        wrong = await mcp.call_tool("toolbox__add", {"a": "not a number"})
        assert wrong.is_error


async def test_resources_and_prompts_pass_through(hub: RunningMaghub) -> None:
    from mcp.shared.exceptions import MCPError

    async with client(hub, mode="legacy") as mcp:
        resources = (await mcp.list_resources()).resources
        assert [(r.name, str(r.uri)) for r in resources] == [("media__greeting", "memo://greeting")]
        read = await mcp.read_resource("memo://greeting")
        assert read.contents[0].text == "hello from media"
        prompts = (await mcp.list_prompts()).prompts
        assert [p.name for p in prompts] == ["media__summarize"]
        prompt = await mcp.get_prompt("media__summarize", {"topic": "MCP"})
        assert "Summarize MCP" in prompt.messages[0].content.text
        with pytest.raises(MCPError, match="Unknown prompt"):
            await mcp.get_prompt("nobody__summarize", {"topic": "x"})
        with pytest.raises(MCPError):
            await mcp.read_resource("memo://nothing-here")


async def test_one_part_endpoints(hub: RunningMaghub) -> None:
    async with client(hub, "/gateway/graphs/mcp") as mcp:
        assert [tool.name for tool in (await mcp.list_tools()).tools] == ["two_steps"]
    async with client(hub, "/gateway/servers/media/mcp") as mcp:
        assert {tool.name for tool in (await mcp.list_tools()).tools} == {"media__picture", "media__refuse"}
        assert (await mcp.call_tool("media__refuse", {"reason": "x"})).is_error
    response = await hub.client.post("/gateway/servers/nobody/mcp", json={})
    assert response.status_code == 404 and "nobody" in response.json()["detail"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_bad_calls_get_mcp_errors(hub: RunningMaghub, mode: str) -> None:
    from mcp.shared.exceptions import MCPError

    async with client(hub, mode=mode) as mcp:
        await mcp.list_tools()
        with pytest.raises(MCPError, match="Unknown tool 'nothing'"):
            await mcp.call_tool("nothing", {})
        empty = await mcp.call_tool("two_steps", {"input": "  "})
        assert empty.is_error and "`input`" in empty.content[0].text
        extra = await mcp.call_tool("two_steps", {"input": "x", "colour": "red"})
        assert extra.is_error and "colour" in extra.content[0].text
        # an id that can name no run (a new run may take a client-chosen id such as conv_123)
        stranger = await mcp.call_tool("two_steps", {"input": "x", "conversation_id": "no such run!"})
        assert stranger.is_error and "no such run!" in stranger.content[0].text
        # A graph deleted between list and call is an unknown tool now.
        assert (await hub.client.delete("/api/graphs/two steps")).status_code == 200
        with pytest.raises(MCPError, match="Unknown tool 'two_steps'"):
            await mcp.call_tool("two_steps", {"input": "x"})


async def test_a_server_that_dies_mid_call_is_an_error_result(hub: RunningMaghub) -> None:
    async with client(hub) as mcp:
        with anyio.fail_after(20):
            crashed = await mcp.call_tool("toolbox__crash", {})
    assert crashed.is_error


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_cancelling_the_call_cancels_the_run(hub: RunningMaghub, llm: ScriptedLLM, mode: str) -> None:
    llm.latency = 30
    async with client(hub, mode=mode) as mcp:
        with anyio.move_on_after(1.5):
            await mcp.call_tool("two_steps", {"input": "slow"})
        await anyio.sleep(0.5)
    with anyio.fail_after(10):
        while True:
            runs = [c for c in (await hub.client.get("/api/chat/conversations")).json()["conversations"]]
            if runs:
                view = (
                    await hub.client.get(
                        f"/graphs/runs/{runs[0]['_id'] if '_id' in runs[0] else runs[0]['conversation_id']}"
                    )
                ).json()
                if view["status"] == "cancelled":
                    break
            await anyio.sleep(0.1)


async def test_tool_list_changes_are_announced(hub: RunningMaghub) -> None:
    changed = anyio.Event()

    async def on_message(message: Any) -> None:
        import mcp_types

        if isinstance(message, mcp_types.ToolListChangedNotification):
            changed.set()

    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with Client(
        streamable_http_client(f"{hub.url}/gateway/mcp"), mode="legacy", message_handler=on_message
    ) as mcp:
        await mcp.list_tools()
        config = graph("another", agent("A", ["start"], ["end"]))
        assert (await hub.client.post("/api/graphs", json=config)).status_code == 200
        with anyio.fail_after(10):
            await changed.wait()
        assert "another" in {tool.name for tool in (await mcp.list_tools(cache_mode="bypass")).tools}

        # A connected server's tools changing is announced too.
        changed = anyio.Event()
        assert not (await mcp.call_tool("toolbox__add_tool", {"name": "fresh"})).is_error
        with anyio.fail_after(15):
            await changed.wait()
        assert "toolbox__fresh" in {tool.name for tool in (await mcp.list_tools(cache_mode="bypass")).tools}


async def test_auth_mode_needs_a_bearer_token(secured: RunningMaghub, sign_in: Any) -> None:
    response = await secured.client.post("/gateway/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert response.status_code == 401 and "maghub keys create" in response.json()["detail"]
    bad = await secured.client.post("/gateway/mcp", json={}, headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401
    async with client(secured, headers=await sign_in("alice")) as mcp:
        assert (await mcp.list_tools()).tools == []


CLIENT_THAT_DIES = """
import sys, anyio
from mcp import Client
async def main():
    async with Client(sys.argv[1], mode=sys.argv[2]) as mcp:
        await mcp.call_tool("two_steps", {"input": "slow", "background": sys.argv[3] == "1"})
anyio.run(main)
"""


async def _latest_run(hub: RunningMaghub) -> dict[str, Any] | None:
    runs = (await hub.client.get("/api/chat/conversations")).json()["conversations"]
    if not runs:
        return None
    conversation_id = runs[0].get("conversation_id") or runs[0].get("_id")
    return (await hub.client.get(f"/graphs/runs/{conversation_id}")).json()


@pytest.mark.parametrize(("mode", "background"), [("auto", False), ("legacy", False), ("legacy", True)])
async def test_a_client_that_disconnects_cancels_the_run_unless_background(
    hub: RunningMaghub, llm: ScriptedLLM, mode: str, background: bool
) -> None:
    llm.latency = 4
    process = await anyio.open_process(
        [sys.executable, "-c", CLIENT_THAT_DIES, f"{hub.url}/gateway/mcp", mode, "1" if background else "0"]
    )
    with anyio.fail_after(30):
        while (run := await _latest_run(hub)) is None or run["status"] != "running":
            await anyio.sleep(0.1)
    process.kill()
    await process.wait()
    with anyio.fail_after(20):
        while (run := await _latest_run(hub))["status"] == "running":
            await anyio.sleep(0.1)
    assert run["status"] == ("completed" if background else "cancelled")


async def test_2026_clients_hear_of_changes_on_their_listen_stream(hub: RunningMaghub) -> None:
    async with client(hub) as mcp:
        assert mcp.protocol_version == "2026-07-28"
        assert "another" not in {tool.name for tool in (await mcp.list_tools()).tools}
        async with mcp.listen(tools_list_changed=True) as subscription:
            config = graph("another", agent("A", ["start"], ["end"]))
            assert (await hub.client.post("/api/graphs", json=config)).status_code == 200
            with anyio.fail_after(10):
                async for _event in subscription:
                    break
        assert "another" in {tool.name for tool in (await mcp.list_tools()).tools}


async def test_auth_mode_runs_belong_to_the_key_owner(secured: RunningMaghub, sign_in: Any, llm: ScriptedLLM) -> None:
    root, alice = await sign_in("root"), await sign_in("alice")
    model = {"name": "m", "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
    assert (await secured.client.post("/models", json=model, headers=root)).status_code == 200
    llm.default_reply = answer_with_name
    config = graph("solo", agent("A", ["start"], ["end"]))
    assert (await secured.client.post("/api/graphs", json=config, headers=root)).status_code == 200
    key = (await secured.client.post("/api/keys", json={"name": "agent"}, headers=alice)).json()["key"]

    async with client(secured, headers={"Authorization": f"Bearer {key}"}) as mcp:
        result = await mcp.call_tool("solo", {"input": "hello"})
    conversation_id = result.structured_content["conversation_id"]
    assert (await secured.client.get(f"/graphs/runs/{conversation_id}", headers=alice)).json()["status"] == "completed"
    assert (await secured.client.get(f"/graphs/runs/{conversation_id}", headers=root)).status_code == 404

    await secured.client.delete(
        f"/api/keys/{(await secured.client.get('/api/keys', headers=alice)).json()['keys'][0]['id']}", headers=alice
    )
    revoked = await secured.client.post("/gateway/mcp", json={}, headers={"Authorization": f"Bearer {key}"})
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
