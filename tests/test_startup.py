"""Startup: maghub answers before the MCP SDK is loaded, and its servers connect once it is (SPEC §10).

Importing the MCP SDK and Alembic takes longer than the rest of a start; the server path loads the
SDK only for its connections, in a worker thread, and Alembic only for a real migration. These tests
run maghub in fresh processes, where nothing has imported either yet.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2

from maghub.testing.mcp_servers.harness import MARKER_VARIABLE, eventually
from maghub.testing.process import MaghubProcess, free_port

# Installed as sitecustomize in the maghub process under test: an import of the MCP SDK (from any
# thread) waits until the gate file exists, and leaves a note that it was asked for.
SDK_GATE = """
import importlib.abc, os, sys, time

class SDKGate(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name in ("mcp", "mcp_types"):
            gate = os.environ["SDK_GATE_FILE"]
            open(gate + ".requested", "a").close()
            while not os.path.exists(gate):
                time.sleep(0.01)
        return None

sys.meta_path.insert(0, SDKGate())
"""


async def test_the_server_path_imports_neither_the_sdks_nor_alembic() -> None:
    code = (
        "import sys\n"
        "import maghub.cli.app, maghub.service.server, maghub.service.runtime, maghub.mcp, maghub.store.database\n"
        "sdks = ('mcp', 'mcp_types', 'alembic', 'openai')\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in sdks))\n"
    )
    imported = await anyio.run_process([sys.executable, "-c", code], check=False)
    assert imported.returncode == 0, imported.stderr.decode()
    assert imported.stdout.decode().strip() == "[]"


def twenty_servers(marker: str) -> dict[str, dict[str, Any]]:
    """Two working stdio servers, two that never answer the handshake, sixteen on closed ports."""
    env = {MARKER_VARIABLE: marker}
    toolbox = {"command": sys.executable, "args": ["-m", "maghub.testing.mcp_servers.toolbox"], "env": env}
    hung = {"command": sys.executable, "args": ["-c", "import sys; sys.stdin.read()"], "env": env}
    servers = {"toolbox0": toolbox, "toolbox1": toolbox, "hung0": hung, "hung1": hung}
    for i in range(16):
        servers[f"gone{i}"] = {"transportType": "streamable-http", "url": f"http://127.0.0.1:{free_port()}/mcp"}
    return servers


async def status_of(http: httpx2.AsyncClient) -> dict[str, dict[str, Any]]:
    response = await http.get("/mcp/status")
    assert response.status_code == 200, response.text
    return response.json()


async def status_when(
    http: httpx2.AsyncClient, condition: Callable[[dict[str, dict[str, Any]]], bool], timeout: float
) -> dict[str, dict[str, Any]]:
    """The ``/mcp/status`` answer once ``condition`` holds for it; fails after ``timeout`` seconds."""
    with anyio.move_on_after(timeout):
        while not condition(status := await status_of(http)):
            await anyio.sleep(0.1)
        return status
    raise AssertionError(f"/mcp/status after {timeout} s: {status}")


async def test_the_api_answers_while_twenty_servers_wait_for_the_sdk(tmp_path: Path, marker: str) -> None:
    data_dir = tmp_path / "data"
    first = MaghubProcess(data_dir, env={"MAGHUB_MCP_APPLY_WAIT_SECONDS": "0"})
    try:
        await anyio.to_thread.run_sync(first.wait_ready)
        async with httpx2.AsyncClient(base_url=first.url, timeout=30) as http:
            added = await http.post("/mcp/add", json={"mcpServers": twenty_servers(marker)})
            assert added.status_code == 200, added.text
    finally:
        await anyio.to_thread.run_sync(first.stop)

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SDK_GATE)
    gate = tmp_path / "sdk-gate"
    python_path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    second = MaghubProcess(data_dir, env={"PYTHONPATH": python_path, "SDK_GATE_FILE": str(gate)})
    try:
        await anyio.to_thread.run_sync(second.wait_ready)
        async with httpx2.AsyncClient(base_url=second.url, timeout=30) as http:
            # The connections asked for the SDK and wait for it; the API answers meanwhile.
            await eventually(Path(f"{gate}.requested").exists, 30, "the connections to load the SDK")
            status = await status_of(http)
            assert len(status) == 20
            assert {server["status"] for server in status.values()} == {"connecting"}

            gate.touch()
            status = await status_when(http, lambda s: s["toolbox0"]["connected"] and s["toolbox1"]["connected"], 60)
            assert status["hung0"]["status"] == status["hung1"]["status"] == "connecting"  # for 30 s
            await status_when(http, lambda s: all(s[f"gone{i}"]["status"] == "error" for i in range(16)), 30)
            echo = {"server_name": "toolbox1", "tool_name": "echo", "params": {"text": "after the gate"}}
            called = await http.post("/mcp/test-tool", json=echo)
            assert called.status_code == 200 and called.json()["status"] == "success", called.text
            assert "after the gate" in called.json()["result"]
    finally:
        await anyio.to_thread.run_sync(second.stop)


WARM_UP_PROBE = """
import asyncio, sys, time
from maghub.settings import Settings
from maghub.testing.harness import running_maghub

async def main():
    async with running_maghub(Settings(data_dir=sys.argv[1], port=0, log_level="warning")) as hub:
        loaded_at_start = hub.runtime.llm_clients.loaded  # the server answers before it loads the stack
        answered = (await hub.client.get("/health")).status_code
        deadline = time.monotonic() + 30
        while not hub.runtime.llm_clients.loaded and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        print(answered, loaded_at_start, hub.runtime.llm_clients.loaded)

asyncio.run(main())
"""


async def test_the_llm_stack_loads_in_the_background_after_startup(tmp_path: Path) -> None:
    """Startup does not wait for the openai SDK, and no model call has to either: it loads by itself."""
    probe = await anyio.run_process([sys.executable, "-c", WARM_UP_PROBE, str(tmp_path / "data")], check=False)
    assert probe.returncode == 0, probe.stderr.decode()
    assert probe.stdout.decode().split() == ["200", "False", "True"]
