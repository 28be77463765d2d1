"""Other MCP clients against ``maghub serve --demo`` (a real process): the SDK 1.x Python client (a
throwaway venv, installed with uv) and the MCP Inspector's CLI (npx) list and call a graph tool and a
proxied tool. Skipped, with the reason, where uv cannot install ``mcp<2`` or npx is missing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from maghub.testing.process import MaghubProcess

HERE = Path(__file__).parent
ROOT = HERE.parent
INSPECTOR = "@modelcontextprotocol/inspector"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MaghubProcess]:
    server = MaghubProcess(tmp_path_factory.mktemp("demo") / "data", "--demo")
    try:
        server.wait_ready()
        graph = {
            "name": "greeter",
            "description": "Greets whoever writes.",
            "nodes": [{"name": "hello", "model_name": "demo", "input_nodes": ["start"], "output_nodes": ["end"]}],
        }
        assert httpx2.post(f"{server.url}/api/graphs", json=graph, timeout=30).status_code == 200
        toolbox = {"command": sys.executable, "args": ["-m", "maghub.testing.mcp_servers.toolbox"]}
        added = httpx2.post(f"{server.url}/mcp/add", json={"mcpServers": {"toolbox": toolbox}}, timeout=30)
        assert added.status_code == 200
        connected = httpx2.post(f"{server.url}/mcp/connect/toolbox", timeout=60)
        assert connected.status_code == 200, connected.text
        yield server
    finally:
        server.stop()


def _uv() -> str | None:
    return shutil.which("uv") or next((str(p) for p in [ROOT / ".venv-tools" / "bin" / "uv"] if p.exists()), None)


@pytest.fixture(scope="module")
def mcp1_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not available to build a throwaway venv with mcp<2")
    venv = tmp_path_factory.mktemp("mcp1") / "venv"
    env = {**os.environ, "UV_SYSTEM_CERTS": "1", "UV_NATIVE_TLS": "1"}  # the system's CA store, as run.py
    made = subprocess.run([uv, "venv", "-q", str(venv)], check=False, capture_output=True, text=True, timeout=120)
    installed = (
        made.returncode == 0
        and subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "mcp<2"],
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        ).returncode
        == 0
    )
    if not installed:
        pytest.skip("could not install mcp<2 from the package registry")
    return str(venv / "bin" / "python")


def test_sdk_1x_client_lists_and_calls(demo: MaghubProcess, mcp1_python: str) -> None:
    ran = subprocess.run(
        [
            mcp1_python,
            str(HERE / "mcp1_client.py"),
            f"{demo.url}/gateway/mcp",
            "greeter",
            json.dumps({"input": "hi there"}),
            "toolbox__add",
            json.dumps({"a": 2, "b": 40}),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["protocol_version"].startswith("2025-")
    assert {"greeter", "toolbox__add"} <= set(report["tools"])
    graph_call, add_call = report["calls"]
    assert "You said: hi there" in graph_call["content"][0]["text"] and not graph_call.get("isError")
    assert graph_call["structuredContent"]["status"] == "completed"
    assert add_call["content"][0]["text"] == "42.0" and not add_call.get("isError")


def _inspector(demo: MaghubProcess, *args: str) -> dict:
    ran = subprocess.run(
        ["npx", "-y", INSPECTOR, "--cli", f"{demo.url}/gateway/mcp", "--transport", "http", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr + ran.stdout
    return json.loads(ran.stdout)


@pytest.mark.skipif(shutil.which("npx") is None, reason="npx (Node.js) is not installed")
def test_inspector_cli_lists_and_calls(demo: MaghubProcess) -> None:
    listed = _inspector(demo, "--method", "tools/list")
    assert {"greeter", "toolbox__echo"} <= {tool["name"] for tool in listed["tools"]}
    graph_call = _inspector(demo, "--method", "tools/call", "--tool-name", "greeter", "--tool-arg", "input=hello")
    assert "You said: hello" in graph_call["content"][0]["text"]
    echo = _inspector(demo, "--method", "tools/call", "--tool-name", "toolbox__echo", "--tool-arg", "text=hi")
    assert echo["content"][0]["text"] == "hi"
