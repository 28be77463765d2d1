"""``maghub mcp list|add|test`` against a real maghub process and a real stdio MCP server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from maghub.testing.mcp_servers.launch import HttpFixtureServer
from maghub.testing.process import MAGHUB_COMMAND, MaghubProcess, env_without_maghub_settings, free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MaghubProcess]:
    process = MaghubProcess(tmp_path_factory.mktemp("cli-mcp") / "data")
    process.wait_ready()
    yield process
    process.stop()


def mcp_cli(server_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MAGHUB_COMMAND, "mcp", *args, "--url", server_url],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        env=env_without_maghub_settings(COLUMNS="200"),
    )


def test_add_list_and_test_a_claude_desktop_config(server: MaghubProcess, tmp_path: Path) -> None:
    config = tmp_path / "claude_desktop_config.json"
    config.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "toolbox": {"command": sys.executable, "args": ["-m", "maghub.testing.mcp_servers.toolbox"]}
                }
            }
        )
    )
    added = mcp_cli(server.url, "add", str(config))
    assert added.returncode == 0, added.stderr
    assert "added toolbox (connected:" in added.stdout

    again = mcp_cli(server.url, "add", str(config))
    assert "skipped toolbox" in again.stdout

    listed = mcp_cli(server.url, "list")
    assert listed.returncode == 0
    assert "toolbox" in listed.stdout and "connected" in listed.stdout and "stdio" in listed.stdout

    called = mcp_cli(server.url, "test", "toolbox", "add", "--arg", "a=2", "--arg", "b=40")
    assert called.returncode == 0, called.stderr
    assert called.stdout.strip() == "42.0" or called.stdout.strip() == "42"
    assert "success in" in called.stderr

    failed = mcp_cli(server.url, "test", "toolbox", "fail", "-a", "message=nope")
    assert failed.returncode == 1 and "nope" in failed.stdout


def test_errors_are_clear(server: MaghubProcess, tmp_path: Path) -> None:
    unknown = mcp_cli(server.url, "test", "ghost", "echo")
    assert unknown.returncode == 2 and "ghost" in unknown.stderr and "HTTP 404" in unknown.stderr
    bad_arg = mcp_cli(server.url, "test", "toolbox", "echo", "--arg", "novalue")
    assert bad_arg.returncode == 2 and "name=value" in bad_arg.stderr
    missing = mcp_cli(server.url, "add", str(tmp_path / "missing.json"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "not valid JSON" in mcp_cli(server.url, "add", str(broken)).stderr
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"mcpServers": {"x": {"transportType": "sse"}}}))
    rejected = mcp_cli(server.url, "add", str(invalid))
    assert rejected.returncode == 2 and "'url'" in rejected.stderr and "HTTP 400" in rejected.stderr
    down = mcp_cli(f"http://127.0.0.1:{free_port()}", "list")
    assert down.returncode == 2 and "maghub is not running" in down.stderr
    for result in (unknown, bad_arg, missing, rejected, down):
        assert "Traceback" not in result.stderr


def test_list_shows_no_stale_error_once_a_server_connects(server: MaghubProcess, tmp_path: Path) -> None:
    """A streamable HTTP server that was down at the first attempt and is up later."""
    late = HttpFixtureServer(module="maghub.testing.mcp_servers.toolbox", transport="streamable-http")
    config = tmp_path / "late.json"
    config.write_text(json.dumps({"mcpServers": {"late": {"type": "streamable-http", "url": late.url}}}))
    assert mcp_cli(server.url, "add", str(config)).returncode == 0
    try:
        assert "cannot connect" in mcp_cli(server.url, "list").stdout
        late.start()
        assert httpx2.post(f"{server.url}/mcp/connect/late", timeout=30).status_code == 200
        listed = mcp_cli(server.url, "list").stdout
        assert "late" in listed and "connected" in listed and "cannot connect" not in listed
    finally:
        httpx2.post(f"{server.url}/mcp/remove", json=["late"], timeout=30)
        late.kill()
