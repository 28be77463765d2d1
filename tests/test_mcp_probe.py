"""Probing a server config once (the "test" endpoints): results and classified failures."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from maghub.mcp.connections.status import ConnectionState, FailureKind
from maghub.mcp.connections.manager import MCPManager
from maghub.mcp.configuration.server_config import ServerConfig, parse_server_entry
from maghub.mcp.connections.probe import probe_server
from maghub.testing.mcp_servers.harness import (
    FAST_POLICY,
    MARKER_VARIABLE,
    fixture_server,
)
from maghub.testing.mcp_servers.launch import serving_over_http
from maghub.testing.process import free_port


async def test_probe_of_a_working_server(marker: str) -> None:
    result = await probe_server(fixture_server("box", marker, enabled=False), FAST_POLICY)  # enabled or not
    assert result.ok and result.state == ConnectionState.CONNECTED and result.failure is None
    assert result.tool_count == len(result.tools) > 10 and "echo" in {tool.name for tool in result.tools}
    assert 0 < result.elapsed_ms < 20_000
    assert result.server_name == "toolbox" and result.protocol_version
    assert "tools" in result.message


async def test_probing_does_not_register_the_server(marker: str) -> None:
    async with MCPManager(FAST_POLICY) as manager:
        assert (await manager.probe(fixture_server("box", marker))).ok
        assert manager.status() == {}


def stdio(command: str, *args: str, **fields: object) -> ServerConfig:
    return parse_server_entry("probe", {"command": command, "args": list(args), **fields})


async def test_command_not_found() -> None:
    result = await probe_server(stdio("no-such-mcp-server-command"), FAST_POLICY)
    assert (result.state, result.failure and result.failure.kind) == (
        ConnectionState.ERROR,
        FailureKind.COMMAND_NOT_FOUND,
    )
    assert "'no-such-mcp-server-command' was not found" in result.message and "PATH=" in result.message


async def test_missing_working_directory() -> None:
    result = await probe_server(stdio(sys.executable, cwd="/no/such/dir"), FAST_POLICY)
    assert result.failure and result.failure.kind == FailureKind.SPAWN_FAILED
    assert "/no/such/dir" in result.message and "cwd" in result.message


async def test_command_that_is_not_executable(tmp_path: Path) -> None:
    script = tmp_path / "server.sh"
    script.write_text("#!/bin/sh\n")
    result = await probe_server(stdio(str(script)), FAST_POLICY)
    assert result.failure and result.failure.kind == FailureKind.SPAWN_FAILED
    assert "permission denied" in result.message


async def test_server_that_exits_shows_its_stderr(marker: str) -> None:
    code = "import sys; print('ERROR: API_KEY is not set', file=sys.stderr); sys.exit(3)"
    result = await probe_server(stdio(sys.executable, "-c", code, env={MARKER_VARIABLE: marker}), FAST_POLICY)
    assert result.failure and result.failure.kind == FailureKind.PROCESS_EXITED
    assert "API_KEY is not set" in result.message


# Answers every request with a JSON-RPC error, so both handshakes (discover, then initialize) fail.
REFUSES_EVERYTHING = """
import json, sys
for line in sys.stdin:
    request = json.loads(line)
    if "id" in request:
        error = {"code": -32600, "message": "not today"}
        print(json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": error}), flush=True)
"""


async def test_server_that_refuses_the_handshake(marker: str) -> None:
    result = await probe_server(
        stdio(sys.executable, "-c", REFUSES_EVERYTHING, env={MARKER_VARIABLE: marker}), FAST_POLICY
    )
    assert result.failure and result.failure.kind == FailureKind.HANDSHAKE_ERROR
    assert "not today" in result.message


async def test_server_that_never_answers_times_out(marker: str) -> None:
    never = stdio(sys.executable, "-c", "import sys; sys.stdin.read()", env={MARKER_VARIABLE: marker})
    result = await probe_server(never, replace(FAST_POLICY, handshake_timeout=0.5))
    assert result.failure and result.failure.kind == FailureKind.TIMEOUT
    assert "within 0.5 s" in result.message


async def test_closed_port() -> None:
    result = await probe_server(parse_server_entry("p", {"url": f"http://127.0.0.1:{free_port()}/mcp"}), FAST_POLICY)
    assert result.failure and result.failure.kind == FailureKind.CONNECTION_FAILED
    assert "cannot connect to http://127.0.0.1" in result.message


@pytest.mark.parametrize(
    ("served", "transport", "path", "status"),
    [
        ("streamable-http", "streamable_http", "/wrong", 404),
        ("sse", "sse", "/wrong", 404),
        ("streamable-http", "sse", "/mcp", 400),  # the transport does not match the endpoint
    ],
)
async def test_http_errors_name_the_status_and_a_hint(
    marker: str, served: str, transport: str, path: str, status: int
) -> None:
    async with serving_over_http(served, env={MARKER_VARIABLE: marker}) as server:  # type: ignore[arg-type]
        url = f"http://127.0.0.1:{server.port}{path}"
        result = await probe_server(parse_server_entry("p", {"transportType": transport, "url": url}), FAST_POLICY)
    assert result.failure and result.failure.kind == FailureKind.HTTP_STATUS
    assert result.failure.http_status == status
    assert f"HTTP {status}" in result.message and url in result.message
    assert ("URL path" if status == 404 else "transport") in result.message
