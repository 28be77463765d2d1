"""MCP benchmarks (SPEC §10).

1. Tool-call overhead: ``POST /mcp/test-tool`` on a running maghub against a direct MCP SDK call, both
   on the fixture toolbox server over stdio, interleaved in one run (target: ≤ 3 ms added at p50).
2. Startup with 20 configured MCP servers: time until the API answers, against the same maghub with
   none configured (target: ≤ 2 s); and the time until all 20 are connected (servers connect in
   parallel, in the background).

    uv run python bench/mcp_overhead.py [--n 300] [--servers 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx2
from harness import Samples, print_added, print_ratio, print_table
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from maghub.testing.process import MaghubProcess

TOOLBOX_ARGS = ["-m", "maghub.testing.mcp_servers.toolbox"]
TOOLBOX = {"command": sys.executable, "args": TOOLBOX_ARGS, "transportType": "stdio"}


async def tool_call_overhead(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        maghub = MaghubProcess(Path(tmp) / "data", "--log-level", "warning")
        try:
            maghub.wait_ready()
            async with httpx2.AsyncClient(base_url=maghub.url, timeout=30) as http:
                added = (await http.post("/mcp/add", json={"mcpServers": {"toolbox": TOOLBOX}})).json()
                assert added["servers"]["toolbox"]["connected"], added
                params = StdioServerParameters(command=sys.executable, args=TOOLBOX_ARGS)
                async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
                    await session.initialize()
                    through, direct = Samples("maghub /mcp/test-tool"), Samples("direct SDK call_tool")
                    body = {"server_name": "toolbox", "tool_name": "echo", "params": {"text": "ping"}}
                    for i in range(rounds + 20):  # the first 20 rounds warm up both paths
                        started = time.perf_counter()
                        response = await http.post("/mcp/test-tool", json=body)
                        via_maghub = time.perf_counter() - started
                        assert response.json()["status"] == "success"
                        started = time.perf_counter()
                        result = await session.call_tool("echo", {"text": "ping"})
                        via_sdk = time.perf_counter() - started
                        assert not result.is_error
                        if i >= 20:
                            through.add(via_maghub)
                            direct.add(via_sdk)
        finally:
            maghub.stop()
    print_table("tool call round trip (echo over stdio)", [through, direct])
    print_added("mcp_test_tool", through.median, direct.median, target_ms=3.0)


def time_to_api(data_dir: Path) -> tuple[float, MaghubProcess]:
    started = time.perf_counter()
    maghub = MaghubProcess(data_dir, "--log-level", "warning")
    while True:
        try:
            if httpx2.get(f"{maghub.url}/mcp/status", timeout=0.5).status_code == 200:
                return time.perf_counter() - started, maghub
        except httpx2.HTTPError:
            time.sleep(0.005)
        if time.perf_counter() - started > 60:
            raise TimeoutError(maghub.stop())


def startup_with_servers(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        empty_dir, full_dir = Path(tmp) / "empty", Path(tmp) / "full"
        # Configure the servers once, then measure a restart with them stored.
        setup = MaghubProcess(full_dir, "--log-level", "warning")
        setup.wait_ready()
        servers = {f"toolbox{i}": TOOLBOX for i in range(count)}
        httpx2.post(f"{setup.url}/mcp/add", json={"mcpServers": servers}, timeout=120)
        setup.stop()
        time_to_api(empty_dir)[1].stop()  # warms the OS caches for both

        baseline, empty = time_to_api(empty_dir)
        empty.stop()
        with_servers, full = time_to_api(full_dir)
        api_answered = time.perf_counter()
        try:
            while time.perf_counter() - api_answered < 120:
                status = httpx2.get(f"{full.url}/mcp/status", timeout=5).json()
                if all(s["status"] in ("connected", "error") for s in status.values()):
                    break
                time.sleep(0.05)
            settled_after = time.perf_counter() - api_answered
            connected = sum(s["connected"] for s in status.values())
        finally:
            full.stop()
    print(
        f"\nstartup: API answers after {with_servers * 1e3:.0f} ms with {count} MCP servers, "
        f"{baseline * 1e3:.0f} ms with none; {connected}/{count} connected "
        f"{settled_after * 1e3:.0f} ms after that"
    )
    print_ratio("mcp_startup_api", with_servers, baseline, 1.5)
    ok = with_servers <= 2.0
    print(f"ABSOLUTE mcp_startup_api = {with_servers:.3f} s (target <= 2 s) {'PASS' if ok else 'MISS'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="tool calls per path")
    parser.add_argument("--servers", type=int, default=20, help="MCP servers configured for the startup test")
    args = parser.parse_args()
    asyncio.run(tool_call_overhead(args.n))
    startup_with_servers(args.servers)


if __name__ == "__main__":
    main()
