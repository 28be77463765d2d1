"""MCP benchmarks (SPEC §10).

1. Tool-call overhead: ``POST /mcp/test-tool`` on a running maghub against a direct MCP SDK call, both
   on the fixture toolbox server over stdio, interleaved in one run (target: ≤ 3 ms added at p50).
2. Startup with 20 configured MCP servers: time until the API answers, against the same maghub with
   none configured (target: ≤ 2 s); and the time until all 20 are connected (servers connect in
   parallel, in the background).

    uv run python bench/mcp_overhead.py [--n 300] [--servers 20] [--rounds 5] [--startup-only]

Startup rounds interleave three measurements: maghub with the servers, maghub without, and the floor
(a bare ``python -c 'import <the web and database stack>'``), each in a fresh process.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import fastapi.routing
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


# What every maghub start imports and cannot avoid: the web server, the web framework, the database
# layer with its SQLite driver, and the settings. Nothing maghub does can start faster than this.
FLOOR_IMPORTS = "fastapi, uvicorn, sqlalchemy.ext.asyncio, sqlalchemy.orm, aiosqlite, pydantic_settings"


def time_to_api(data_dir: Path) -> tuple[float, float, MaghubProcess]:
    """(seconds until ``/mcp/status`` answers, CPU seconds maghub used until then, the process)."""
    started = time.perf_counter()
    maghub = MaghubProcess(data_dir, "--log-level", "warning")
    while True:
        try:
            if httpx2.get(f"{maghub.url}/mcp/status", timeout=0.5).status_code == 200:
                return time.perf_counter() - started, cpu_seconds(maghub.proc.pid), maghub
        except httpx2.HTTPError:
            time.sleep(0.005)
        if time.perf_counter() - started > 60:
            raise TimeoutError(maghub.stop())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process so far (from /proc: Linux only; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_floor_imports() -> tuple[float, float]:
    """(seconds, CPU seconds) of a bare ``python -c 'import <FLOOR_IMPORTS>'``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {FLOOR_IMPORTS}"], check=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def wait_all_settled(maghub: MaghubProcess, timeout: float = 120) -> tuple[int, float]:
    """(servers connected, seconds) once every server is connected or failed."""
    started = time.perf_counter()
    while True:
        status = httpx2.get(f"{maghub.url}/mcp/status", timeout=5).json()
        if all(s["status"] in ("connected", "error") for s in status.values()):
            break
        if time.perf_counter() - started > timeout:
            break
        time.sleep(0.05)
    return sum(s["connected"] for s in status.values()), time.perf_counter() - started


def startup_with_servers(count: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        empty_dir, full_dir = Path(tmp) / "empty", Path(tmp) / "full"
        # Configure the servers once, then measure restarts with them stored.
        setup = MaghubProcess(full_dir, "--log-level", "warning")
        setup.wait_ready()
        servers = {f"toolbox{i}": TOOLBOX for i in range(count)}
        httpx2.post(f"{setup.url}/mcp/add", json={"mcpServers": servers}, timeout=120)
        setup.stop()
        time_to_api(empty_dir)[2].stop()  # warms the OS caches for both

        full = Samples(f"API answers, {count} MCP servers")
        empty = Samples("API answers, no MCP server")
        floor = Samples("floor: imports only")
        full_cpu, empty_cpu, floor_cpu = (Samples(samples.name) for samples in (full, empty, floor))
        settled: list[tuple[int, float]] = []
        # Interleaved rounds: a load spike from elsewhere on the machine hits all three alike.
        for _ in range(rounds):
            seconds, cpu = time_floor_imports()
            floor.add(seconds)
            floor_cpu.add(cpu)
            seconds, cpu, maghub = time_to_api(empty_dir)
            maghub.stop()
            empty.add(seconds)
            empty_cpu.add(cpu)
            seconds, cpu, maghub = time_to_api(full_dir)
            try:
                full.add(seconds)
                full_cpu.add(cpu)
                settled.append(wait_all_settled(maghub))
            finally:
                maghub.stop()

    print_table(f"startup, {rounds} rounds (floor: python -c 'import {FLOOR_IMPORTS}')", [full, empty, floor])
    # CPU time depends far less on other load on the machine than wall time does.
    print_table(
        "CPU time of that process until then (user + system; ms here are CPU ms)", [full_cpu, empty_cpu, floor_cpu]
    )
    connected = min(c for c, _ in settled)
    print(
        f"  all {count} servers connected or failed {statistics.median(s for _, s in settled) * 1e3:.0f} ms "
        f"(median) after the API answered; fewest connected in a round: {connected}/{count}"
    )
    if not bytecode_is_cached():
        print(
            "  note: the installed packages have no compiled bytecode, so every start compiles them from source\n"
            "  (uv does not compile by default, and PYTHONDONTWRITEBYTECODE keeps Python from caching it);\n"
            "  `uv sync --compile-bytecode` (or UV_COMPILE_BYTECODE=1) gives a normal installation's numbers"
        )
    print_ratio("mcp_startup_api", full.median, empty.median, 1.5)
    ok = full.median <= 2.0
    print(
        f"ABSOLUTE mcp_startup_api = {full.median:.3f} s (median of {rounds}; target <= 2 s; "
        f"floor {floor.median:.3f} s) {'PASS' if ok else 'MISS'}"
    )


def bytecode_is_cached() -> bool:
    """Whether importing the web stack reads compiled bytecode rather than compiling its sources."""
    return Path(importlib.util.cache_from_source(fastapi.routing.__file__)).exists()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="tool calls per path")
    parser.add_argument("--servers", type=int, default=20, help="MCP servers configured for the startup test")
    parser.add_argument("--rounds", type=int, default=5, help="startups measured with and without the servers")
    parser.add_argument("--startup-only", action="store_true", help="skip the tool call benchmark")
    args = parser.parse_args()
    if not args.startup_only:
        asyncio.run(tool_call_overhead(args.n))
    startup_with_servers(args.servers, args.rounds)


if __name__ == "__main__":
    main()
