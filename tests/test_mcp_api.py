"""The MAG ``/mcp/*`` endpoints over real HTTP, with real fixture MCP servers (stdio and HTTP)."""

from __future__ import annotations

import os
import socket
import sys
import time

import pytest

from maghub.testing.harness import RunningMaghub, running_maghub
from maghub.testing.mcp_servers.launch import HttpFixtureServer, serving_over_http
from maghub.testing.process import free_port

TOOLBOX = {"command": sys.executable, "args": ["-m", "maghub.testing.mcp_servers.toolbox"], "transportType": "stdio"}
SECRET = "ghp_abcdefghijklmnop1234567890"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is not running
        return stat.read().split(")")[-1].split()[0] != "Z"


async def tool(maghub: RunningMaghub, server: str, name: str, **params: object) -> dict:
    response = await maghub.client.post(
        "/mcp/test-tool", json={"server_name": server, "tool_name": name, "params": params}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def server_pid(maghub: RunningMaghub, server: str) -> int:
    return int((await tool(maghub, server, "pid"))["result"])


async def wait_gone(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} still running"
        await __import__("anyio").sleep(0.05)


@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_add_status_tools_test_tool_remove(maghub: RunningMaghub, prefix: str) -> None:
    client = maghub.client
    added = await client.post(f"{prefix}/mcp/add", json={"mcpServers": {"toolbox": TOOLBOX}})
    assert added.status_code == 200, added.text
    body = added.json()
    assert body["status"] == "success" and body["message"] == "成功添加 1 个服务器"
    assert body["added_servers"] == ["toolbox"] and body["servers"]["toolbox"]["connected"] is True

    status = (await client.get(f"{prefix}/mcp/status")).json()["toolbox"]
    assert status["connected"] is True and status["status"] == "connected" and status["transport_type"] == "stdio"
    assert "echo" in status["tools"] and status["error"] is None and status["lastConnected"].endswith("Z")

    tools = (await client.get(f"{prefix}/mcp/tools")).json()["toolbox"]
    echo = next(t for t in tools if t["name"] == "echo")
    assert echo["input_schema"]["properties"]["text"]["type"] == "string" and echo["description"]

    ok = await client.post(
        f"{prefix}/mcp/test-tool", json={"server_name": "toolbox", "tool_name": "echo", "params": {"text": "hi"}}
    )
    assert ok.json()["status"] == "success" and "hi" in ok.json()["result"] and ok.json()["execution_time"] >= 0
    failed = await client.post(
        f"{prefix}/mcp/test-tool", json={"server_name": "toolbox", "tool_name": "fail", "params": {}}
    )
    assert failed.status_code == 200 and failed.json()["status"] == "error" and failed.json()["error"]

    pid = await server_pid(maghub, "toolbox")
    removed = await client.post(f"{prefix}/mcp/remove", json=["toolbox"])
    assert removed.json()["status"] == "success" and removed.json()["removed_servers"] == ["toolbox"]
    await wait_gone(pid)
    assert (await client.get(f"{prefix}/mcp/status")).json() == {}


async def test_config_round_trip_masks_secrets_and_applies_per_server(maghub: RunningMaghub) -> None:
    client = maghub.client
    document = {
        "mcpServers": {
            "a": {**TOOLBOX, "env": {"GITHUB_TOKEN": SECRET, "PORT": "3001"}},
            "b": dict(TOOLBOX),
        }
    }
    first = await client.post("/mcp/config", json=document)
    assert first.status_code == 200, first.text
    assert first.json()["a"]["connected"] and first.json()["b"]["connected"]
    assert sorted(first.json()["status"]["added"]) == ["a", "b"]
    pid_a, pid_b = await server_pid(maghub, "a"), await server_pid(maghub, "b")

    shown = (await client.get("/mcp/config")).json()
    assert SECRET not in str(shown)
    assert shown["mcpServers"]["a"]["env"] == {"GITHUB_TOKEN": "ghp…7890", "PORT": "3001"}
    assert shown["mcpServers"]["a"]["transportType"] == "stdio" and shown["mcpServers"]["a"]["disabled"] is False

    # Re-post what was read (masked), changing only b: a keeps its session and its secret.
    shown["mcpServers"]["b"]["timeout"] = 30
    shown["mcpServers"]["b"]["args"] = [*TOOLBOX["args"], "--transport", "stdio"]
    second = (await client.post("/mcp/config", json=shown)).json()
    assert second["status"]["changed"] == ["b"] and second["status"]["unchanged"] == ["a"]
    assert await server_pid(maghub, "a") == pid_a
    assert await server_pid(maghub, "b") != pid_b
    await wait_gone(pid_b)
    assert (await maghub.runtime.mcp.get("a")).env["GITHUB_TOKEN"] == SECRET

    # Dropping a server from the document removes it and ends its process.
    third = (await client.post("/mcp/config", json={"mcpServers": {"a": shown["mcpServers"]["a"]}})).json()
    assert third["status"]["removed"] == ["b"] and "b" not in third
    assert (await maghub.runtime.mcp.get("a")).env["GITHUB_TOKEN"] == SECRET


async def test_invalid_config_post_keeps_the_current_set(maghub: RunningMaghub) -> None:
    client = maghub.client
    await client.post("/mcp/config", json={"mcpServers": {"a": {**TOOLBOX, "env": {"GITHUB_TOKEN": SECRET}}}})
    pid = await server_pid(maghub, "a")
    before = (await client.get("/mcp/config")).json()
    bad = {"mcpServers": {"a": dict(TOOLBOX), "b": {"transportType": "sse"}}}
    response = await client.post("/mcp/config", json=bad)
    assert response.status_code == 400 and response.json()["problems"][0]["server"] == "b"
    assert (await client.get("/mcp/config")).json() == before
    assert await server_pid(maghub, "a") == pid  # not even reconnected
    assert (await maghub.runtime.mcp.get("a")).env["GITHUB_TOKEN"] == SECRET


async def test_dialects_are_accepted(maghub: RunningMaghub) -> None:
    async with serving_over_http("streamable-http") as http_server, serving_over_http("sse") as sse_server:
        claude = {"mcpServers": {"desktop": {"command": sys.executable, "args": TOOLBOX["args"]}}}
        hub = {"mcpServers": {"hub-http": {"type": "streamable-http", "url": http_server.url, "enabled": True}}}
        mag = {"mcpServers": {"mag-sse": {"transportType": "sse", "url": sse_server.url, "autoApprove": []}}}
        for document in (claude, hub, mag):
            response = await maghub.client.post("/mcp/add", json=document)
            assert response.status_code == 200, response.text
        status = (await maghub.client.get("/mcp/status")).json()
        assert {name: s["transport_type"] for name, s in status.items()} == {
            "desktop": "stdio",
            "hub-http": "streamable_http",
            "mag-sse": "sse",
        }
        assert all(s["connected"] for s in status.values()), status
        for name in status:
            assert "hi" in (await tool(maghub, name, "echo", text="hi"))["result"]
        await maghub.client.post("/mcp/remove", json=list(status))


async def test_invalid_configs_add_nothing_and_name_every_problem(maghub: RunningMaghub) -> None:
    client = maghub.client
    document = {
        "mcpServers": {
            "good": dict(TOOLBOX),
            "no-command": {"transportType": "stdio"},
            "bad-url": {"transportType": "sse", "url": "ftp://example.com/sse"},
        }
    }
    response = await client.post("/mcp/add", json=document)
    assert response.status_code == 400
    problems = {(p["server"], p["field"]) for p in response.json()["problems"]}
    assert ("no-command", "command") in problems and ("bad-url", "url") in problems
    assert (await client.get("/mcp/config")).json() == {"mcpServers": {}}

    for bad in ({"mcpServers": {}}, {"mcpServers": []}, {"mcpServers": {"x": "npx"}}, {"nothing": 1}):
        assert (await client.post("/mcp/add", json=bad)).status_code == 400, bad
    assert (await client.post("/mcp/add", json=[1])).status_code == 422
    assert (
        await client.post("/mcp/config", json={"mcpServers": {"x": {"transportType": "carrier-pigeon"}}})
    ).status_code == 400
    assert (await client.post("/mcp/remove", json=[])).status_code == 400
    assert (await client.post("/mcp/remove", json={"name": "x"})).status_code == 422
    assert (await client.post("/mcp/test-tool", json={"server_name": "x"})).status_code == 422
    assert (await client.get("/mcp/status")).json() == {}


async def test_duplicates_unknown_names_and_connection_errors(maghub: RunningMaghub) -> None:
    client = maghub.client
    await client.post("/mcp/add", json={"mcpServers": {"toolbox": TOOLBOX}})
    again = (await client.post("/mcp/add", json={"mcpServers": {"toolbox": TOOLBOX}})).json()
    assert again["status"] == "no_changes" and again["duplicate_servers"] == ["toolbox"]

    assert (await client.post("/mcp/connect/nope")).status_code == 404
    assert (await client.post("/mcp/disconnect/nope")).status_code == 404
    assert (await client.post("/mcp/remove", json=["nope"])).status_code == 404
    partial = (await client.post("/mcp/remove", json=["nope", "toolbox"])).json()
    assert partial["status"] == "partial_success" and partial["not_found_servers"] == ["nope"]

    unknown_tool = await client.post("/mcp/test-tool", json={"server_name": "x", "tool_name": "y"})
    assert unknown_tool.status_code == 404

    await client.post("/mcp/add", json={"mcpServers": {"broken": {"command": "/nonexistent/mcp-server"}}})
    failed = await client.post("/mcp/connect/broken")
    assert failed.status_code == 400 and "broken" in failed.json()["detail"]
    assert (await client.get("/mcp/status")).json()["broken"]["status"] == "error"


async def test_an_error_is_cleared_when_the_server_connects_and_kept_as_history(maghub: RunningMaghub) -> None:
    """A streamable HTTP server that is not up yet at the first attempt, then is."""
    client = maghub.client
    late = HttpFixtureServer(module="maghub.testing.mcp_servers.toolbox", transport="streamable-http")
    config = {"transportType": "streamable-http", "url": late.url}
    added = await client.post("/mcp/add", json={"mcpServers": {"late": config}})
    assert added.status_code == 200, added.text
    assert (await client.post("/mcp/connect/late")).status_code == 400
    failed = (await client.get("/mcp/status")).json()["late"]
    assert failed["status"] == "error" and "cannot connect" in failed["lastError"] and failed["error"]
    assert failed["lastErrorKind"] == "connection_failed" and failed["lastErrorAt"]
    assert [past["kind"] for past in failed["recentErrors"]][-1] == "connection_failed"

    await late.astart()
    try:
        connected = await client.post("/mcp/connect/late")
        assert connected.status_code == 200, connected.text
        status = (await client.get("/mcp/status")).json()["late"]
        assert status["status"] == "connected" and status["reconnectAttempts"] == 0
        assert status["lastError"] is None and status["lastErrorKind"] is None and status["error"] is None
        history = status["recentErrors"]  # it stays (automatic retries may have added to it meanwhile)
        assert 1 <= len(history) <= 5 and status["lastErrorAt"] == history[-1]["at"] >= failed["lastErrorAt"]
        assert all("cannot connect" in past["message"] for past in history)
    finally:
        await client.post("/mcp/remove", json=["late"])
        await late.akill()


async def test_connect_disconnect_and_connect_all(maghub: RunningMaghub) -> None:
    client = maghub.client
    await client.post("/mcp/add", json={"mcpServers": {"one": TOOLBOX, "two": TOOLBOX}})
    pid = await server_pid(maghub, "one")
    assert (await client.post("/mcp/disconnect/one")).json() == {
        "status": "success",
        "server": "one",
        "message": "断开连接成功",
    }
    await wait_gone(pid)
    assert (await client.post("/mcp/disconnect/one")).json()["status"] == "not_connected"
    assert (await client.get("/mcp/status")).json()["one"]["status"] == "disconnected"
    missing_tool = await client.post("/mcp/test-tool", json={"server_name": "two", "tool_name": "no_such_tool"})
    assert missing_tool.status_code == 404 and "no_such_tool" in missing_tool.json()["detail"]

    everything = (await client.post("/mcp/connect/all")).json()
    assert everything["summary"] == {
        "total_servers": 2,
        "successful_connections": 1,
        "failed_connections": 0,
        "already_connected": 1,
    }
    assert everything["servers"]["one"]["status"] == "connected" and "echo" in everything["tools"]["one"]
    single = (await client.post("/mcp/connect/one")).json()
    assert single["status"] == "success" and single["message"] == "连接成功" and "echo" in single["tools"]


async def test_servers_reconnect_after_restart_and_unreachable_ones_do_not_delay_startup(settings) -> None:
    dead_url = f"http://127.0.0.1:{free_port()}/mcp"
    with socket.socket() as hung:  # accepts connections (backlog) but never answers: a hung server
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        hung_url = f"http://127.0.0.1:{hung.getsockname()[1]}/mcp"
        async with running_maghub(settings) as first:
            await first.client.post("/mcp/add", json={"mcpServers": {"toolbox": TOOLBOX}})
            settings.mcp_apply_wait_seconds = 0  # answer without waiting for servers that cannot connect
            await first.client.post(
                "/mcp/add",
                json={
                    "mcpServers": {
                        "gone": {"type": "streamable-http", "url": dead_url},
                        "hung": {"type": "streamable-http", "url": hung_url},
                    }
                },
            )
            pid = await server_pid(first, "toolbox")
        assert not alive(pid), "shutdown must end stdio servers"

        settings.port = 0
        started = time.monotonic()
        async with running_maghub(settings) as second:
            status = (await second.client.get("/mcp/status")).json()
            # Waiting for the hung server would take the 30 s handshake timeout.
            assert time.monotonic() - started < 15
            assert status["hung"]["status"] == "connecting"
            await second.runtime.mcp.manager.wait_settled(["toolbox", "gone"], timeout=30)
            status = (await second.client.get("/mcp/status")).json()
            assert status["toolbox"]["connected"] is True
            assert status["gone"]["status"] == "error" and status["gone"]["nextRetryAt"] and status["gone"]["lastError"]
            assert status["hung"]["status"] == "connecting"
            assert "hi" in (await tool(second, "toolbox", "echo", text="hi"))["result"]
