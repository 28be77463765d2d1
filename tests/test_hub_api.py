"""The MCP Hub ``/api/servers`` API exactly as its document writes it, on real MCP servers."""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator

import anyio
import pytest

from maghub.testing.harness import RunningMaghub
from maghub.testing.process import free_port

STDIO = {
    "type": "stdio",
    "command": sys.executable,
    "args": ["-m", "maghub.testing.mcp_servers.toolbox"],
    "enabled": True,
}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class Hub:
    """A client that, like one written only from the hub document, checks the envelope on every answer."""

    def __init__(self, maghub: RunningMaghub, token: str) -> None:
        self.maghub = maghub
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, status: int = 200, **kwargs: object) -> dict:
        kwargs.setdefault("headers", self.headers)
        response = await self.maghub.client.request(method, f"/api/servers{path}", **kwargs)
        assert response.status_code == status, response.text
        body = response.json()
        assert TIMESTAMP.match(body["timestamp"]), body
        assert body["success"] is (status < 400)
        return body["data"] if status < 400 else body["error"]

    async def wait_for(self, server_id: str, state: str, timeout: float = 20) -> dict:
        with anyio.fail_after(timeout):
            while (status := await self.call("GET", f"/{server_id}/status"))["status"] != state:
                await anyio.sleep(0.05)
        return status


@pytest.fixture
async def hub(maghub: RunningMaghub) -> AsyncIterator[Hub]:
    await maghub.runtime.users.create("admin", "admin-password", admin=True)
    login = await maghub.client.post("/api/auth/login", json={"username": "admin", "password": "admin-password"})
    yield Hub(maghub, login.json()["access_token"])


async def test_create_list_get_status_update_delete(hub: Hub) -> None:
    created = await hub.call(
        "POST", "", 201, json={"id": "toolbox", "config": {**STDIO, "env": {"API_KEY": "sk-0123456789abcdefXYZ"}}}
    )
    assert created["id"] == "toolbox" and created["message"] == "服务器 'toolbox' 创建成功"
    assert created["config"]["env"]["API_KEY"] == "sk-…fXYZ" and created["config"]["type"] == "stdio"

    status = await hub.wait_for("toolbox", "connected")
    assert status["isConnected"] is True and status["isConnecting"] is False and status["hasError"] is False
    assert status["toolCount"] > 5 and TIMESTAMP.match(status["lastConnected"]) and status["reconnectAttempts"] == 0

    listing = await hub.call("GET", "")
    assert listing["total"] == 1
    assert listing["summary"] == {"total": 1, "connected": 1, "connecting": 0, "disconnected": 0, "error": 0}
    server = listing["servers"][0]
    assert server["id"] == server["name"] == "toolbox" and server["type"] == "stdio" and server["status"] == "connected"
    assert {"name", "description"} <= set(server["tools"][0]) and server["toolCount"] == len(server["tools"])

    detail = await hub.call("GET", "/toolbox")
    echo = next(tool for tool in detail["tools"] if tool["name"] == "echo")
    assert echo["serverId"] == "toolbox" and echo["inputSchema"]["type"] == "object"
    assert detail["reconnectAttempts"] == 0 and detail["lastError"] is None

    # /mcp/status is the same registry.
    assert (await hub.maghub.client.get("/mcp/status")).json()["toolbox"]["connected"] is True

    pid = int(
        (await hub.maghub.client.post("/mcp/test-tool", json={"server_name": "toolbox", "tool_name": "pid"})).json()[
            "result"
        ]
    )
    same = await hub.call("PUT", "/toolbox", json={"config": {**STDIO, "env": {"API_KEY": "sk-…fXYZ"}, "timeout": 20}})
    assert same["reconnected"] is False and same["message"] == "服务器 'toolbox' 更新成功"
    assert (await hub.maghub.runtime.mcp.get("toolbox")).env["API_KEY"] == "sk-0123456789abcdefXYZ"
    changed = await hub.call(
        "PUT", "/toolbox", json={"config": {**STDIO, "args": [*STDIO["args"], "--transport", "stdio"]}}
    )
    assert changed["reconnected"] is True
    await hub.wait_for("toolbox", "connected")
    new_pid = int(
        (await hub.maghub.client.post("/mcp/test-tool", json={"server_name": "toolbox", "tool_name": "pid"})).json()[
            "result"
        ]
    )
    assert new_pid != pid

    deleted = await hub.call("DELETE", "/toolbox")
    assert deleted == {"id": "toolbox", "message": "服务器 'toolbox' 删除成功"}
    assert (await hub.call("GET", ""))["total"] == 0


async def test_connect_disconnect_and_their_conflicts(hub: Hub) -> None:
    await hub.call("POST", "", 201, json={"id": "tb", "config": STDIO})
    await hub.wait_for("tb", "connected")
    assert (await hub.call("POST", "/tb/connect", 409))["code"] == "SERVER_ALREADY_CONNECTED"
    disconnected = await hub.call("POST", "/tb/disconnect")
    assert disconnected == {"id": "tb", "message": "服务器 'tb' 已断开连接", "status": "disconnected"}
    assert (await hub.call("POST", "/tb/disconnect", 409))["code"] == "SERVER_ALREADY_DISCONNECTED"
    connecting = await hub.call("POST", "/tb/connect")
    assert connecting == {"id": "tb", "message": "服务器 'tb' 连接请求已发送", "status": "connecting"}
    assert (await hub.call("POST", "/tb/connect", 409))["code"] in ("SERVER_CONNECTING", "SERVER_ALREADY_CONNECTED")
    await hub.wait_for("tb", "connected")


async def test_error_codes(hub: Hub) -> None:
    for method, path in [
        ("GET", "/ghost"),
        ("GET", "/ghost/status"),
        ("PUT", "/ghost"),
        ("DELETE", "/ghost"),
        ("POST", "/ghost/connect"),
        ("POST", "/ghost/disconnect"),
    ]:
        kwargs = {"json": {"config": STDIO}} if method == "PUT" else {}
        error = await hub.call(method, path, 404, **kwargs)
        assert error["code"] == "SERVER_NOT_FOUND" and "ghost" in error["message"]

    await hub.call("POST", "", 201, json={"id": "dup", "config": {**STDIO, "enabled": False}})
    assert (await hub.call("POST", "", 409, json={"id": "dup", "config": STDIO}))["code"] == "SERVER_EXISTS"
    assert (await hub.call("POST", "/dup/connect", 409))["code"] == "SERVER_DISABLED"

    bad = [
        {"id": "bad id!", "config": STDIO},
        {"id": "x", "config": {"type": "stdio"}},
        {"id": "x", "config": {"type": "sse", "url": "file:///etc/passwd"}},
        {"id": "x", "config": {"type": "streamable-http"}},
        {"id": "x", "config": {"type": "telepathy", "command": "x"}},
        {"id": "x"},
        {"config": STDIO},
        {"id": "x", "config": "npx time-mcp"},
    ]
    for body in bad:
        error = await hub.call("POST", "", 400, json=body)
        assert error["code"] == "VALIDATION_ERROR", body
    problems = (await hub.call("POST", "", 400, json={"id": "bad id!", "config": {"type": "stdio"}}))["details"][
        "problems"
    ]
    assert {p["field"] for p in problems} >= {"id", "command"}
    broken_json = await hub.maghub.client.post(
        "/api/servers", content=b"{", headers={**hub.headers, "content-type": "application/json"}
    )
    assert broken_json.status_code == 400 and broken_json.json()["error"]["code"] == "VALIDATION_ERROR"
    assert (await hub.call("GET", ""))["total"] == 1  # nothing half-created


async def test_test_endpoint_reports_success_and_classified_failures(hub: Hub) -> None:
    ok = await hub.call("POST", "/test", json=STDIO)
    assert ok["success"] is True and ok["message"] == "服务器连接测试成功"
    assert ok["details"]["status"] == "connected" and ok["details"]["toolCount"] == len(ok["details"]["tools"]) > 0
    assert TIMESTAMP.match(ok["details"]["lastConnected"]) and isinstance(ok["executionTime"], int)
    assert (await hub.call("GET", ""))["total"] == 0  # not saved

    missing = await hub.call("POST", "/test", json={"type": "stdio", "command": "no-such-mcp-command-xyz"})
    assert missing["success"] is False and missing["error"]["kind"] == "command_not_found"
    refused = await hub.call(
        "POST", "/test", json={"type": "streamable-http", "url": f"http://127.0.0.1:{free_port()}/mcp"}
    )
    assert refused["success"] is False and refused["error"]["message"]
    assert (await hub.call("POST", "/test", 400, json={"type": "stdio"}))["code"] == "VALIDATION_ERROR"


async def test_validate_gives_errors_warnings_and_suggestions(hub: Hub) -> None:
    seed_example = await hub.call(
        "POST", "/validate", json={"type": "stdio", "command": "npx", "args": ["-y", "test-mcp"], "enabled": True}
    )
    assert seed_example["isValid"] is True and seed_example["errors"] == []
    assert any(w["code"] == "COMMAND_PATH_WARNING" and w["field"] == "command" for w in seed_example["warnings"])

    no_enabled = await hub.call("POST", "/validate", json={"type": "stdio", "command": sys.executable})
    suggestion = next(s for s in no_enabled["suggestions"] if s["field"] == "enabled")
    assert suggestion["suggestedValue"] is True

    invalid = await hub.call("POST", "/validate", json={"type": "sse", "url": "ftp://x"})
    assert invalid["isValid"] is False and invalid["errors"][0]["field"] == "url" and invalid["errors"][0]["code"]
    for junk in (b"[1, 2]", b'"npx"', b"null", b"42"):
        response = await hub.call(
            "POST", "/validate", content=junk, headers={**hub.headers, "content-type": "application/json"}
        )
        assert response["isValid"] is False


async def test_invalid_update_changes_nothing(hub: Hub) -> None:
    config = {**STDIO, "enabled": False, "env": {"API_KEY": "sk-0123456789abcdefXYZ"}}
    await hub.call("POST", "", 201, json={"id": "keep", "config": config})
    before = await hub.call("GET", "/keep")
    for bad in ({"config": {"type": "stdio"}}, {"config": {"type": "sse", "url": "ftp://x"}}, {"config": []}, {}):
        error = await hub.call("PUT", "/keep", 400, json=bad)
        assert error["code"] == "VALIDATION_ERROR", bad
    assert await hub.call("GET", "/keep") == before
    assert (await hub.maghub.runtime.mcp.get("keep")).env["API_KEY"] == "sk-0123456789abcdefXYZ"
