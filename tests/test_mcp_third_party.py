"""Third-party MCP servers from npm, run through npx (skipped when npx is missing).

The first run downloads the packages (about 10 s each), hence the long timeouts.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace

import pytest

from maghub.mcp.connections.status import ConnectionState
from maghub.mcp.connections.manager import MCPManager
from maghub.mcp.configuration.server_config import parse_mcp_servers
from maghub.mcp.progress import ToolProgress, listening
from maghub.testing.mcp_servers.harness import FAST_POLICY, MARKER_VARIABLE

pytestmark = pytest.mark.skipif(shutil.which("npx") is None, reason="npx is not installed")

# The default policy's long first-start timeout for package runners, the tests' short everything else.
NPX_POLICY = replace(FAST_POLICY, package_runner_timeout=180.0, request_timeout=30.0)


async def test_server_everything_and_time_mcp(marker: str) -> None:
    env = {MARKER_VARIABLE: marker}
    configs = parse_mcp_servers(
        {
            "mcpServers": {
                "everything": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"], "env": env},
                # time-mcp prints "Starting Time MCP server..." to stdout, which is not JSON-RPC.
                "time": {"command": "npx", "args": ["-y", "time-mcp"], "env": env},
            }
        }
    )
    async with MCPManager(NPX_POLICY) as manager:
        await manager.apply(configs)
        await manager.wait_settled(timeout=200)
        statuses = manager.status()
        for status in statuses.values():
            assert status.state == ConnectionState.CONNECTED, f"{status.name}: {status.last_error}"

        assert {"echo", "get-sum"} <= {tool.name for tool in statuses["everything"].tools}
        echo = await manager.call_tool("everything", "echo", {"message": "hi"})
        assert (echo.text, echo.is_error) == ("Echo: hi", False)
        total = await manager.call_tool("everything", "get-sum", {"a": 2, "b": 5})
        assert "7" in total.text

        assert "current_time" in {tool.name for tool in statuses["time"].tools}
        now = await manager.call_tool("time", "current_time", {"format": "YYYY-MM-DD HH:mm:ss", "timezone": "UTC"})
        assert not now.is_error and now.text

        # Both speak the initialize-era protocol; neither tool name collides, so names stay as they are.
        assert {status.protocol_version for status in statuses.values()} <= {"2025-11-25", "2025-06-18", "2025-03-26"}
        _, routes = manager.openai_tools(["everything", "time"])
        assert routes["echo"] == ("everything", "echo") and routes["current_time"] == ("time", "current_time")


async def test_server_everything_reports_progress_and_images_become_placeholders(marker: str) -> None:
    configs = parse_mcp_servers(
        {
            "mcpServers": {
                "everything": {
                    "command": "npx",
                    "args": ["-y", "@modelcontextprotocol/server-everything"],
                    "env": {MARKER_VARIABLE: marker},
                    "timeout": 60,
                }
            }
        }
    )
    async with MCPManager(NPX_POLICY) as manager:
        await manager.apply(configs)
        await manager.wait_settled(timeout=200)
        status = manager.status()["everything"]
        assert status.state == ConnectionState.CONNECTED, status.last_error
        names = {tool.name for tool in status.tools}
        # The tools were renamed over the package's versions.
        long_running = next(n for n in ("trigger-long-running-operation", "longRunningOperation") if n in names)
        tiny_image = next(n for n in ("get-tiny-image", "getTinyImage") if n in names)

        updates: list[ToolProgress] = []
        with listening(updates.append):
            result = await manager.call_tool("everything", long_running, {"duration": 2, "steps": 4})
        assert not result.is_error, result.text
        assert [(u.server, u.tool, u.progress, u.total) for u in updates] == [
            ("everything", long_running, step, 4) for step in (1, 2, 3, 4)
        ]

        image = await manager.call_tool("everything", tiny_image, {})
        # Text blocks around an image placeholder ("Here's the image…", "[image: image/png, 3.9 KB]", …).
        assert re.search(r"^\[image: image/png, [\d.]+ (bytes|KB)\]$", image.text, re.MULTILINE), image.text
        assert len(image.text) < 1000  # the base64 data stays out
        assert any(block["type"] == "image" and block["data"] for block in image.content)  # kept for the API
