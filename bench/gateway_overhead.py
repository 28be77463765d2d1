"""The MCP gateway's cost (SPEC §13, issue #15): a proxied tool call through ``/gateway/mcp`` against
the same call made straight to the server, both with the MCP SDK client, interleaved in one run.

The fixture toolbox serves streamable HTTP in its own process; maghub (another process) is connected to
it, and one SDK client session talks to each: the difference at p50 is what the gateway adds (its MCP
server, the auth check, the routing, and the hop to the server). Target: at most 2 ms added at p50.

    uv run python bench/gateway_overhead.py [--n 300] [--mode auto|legacy]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx2
from harness import Samples, print_added, print_table
from mcp import Client

from maghub.testing.mcp_servers.launch import serving_over_http
from maghub.testing.process import MaghubProcess

WARMUP = 30


async def proxied_call_overhead(rounds: int, mode: str) -> None:
    async with serving_over_http("streamable-http") as toolbox:
        with tempfile.TemporaryDirectory() as tmp:
            maghub = MaghubProcess(Path(tmp) / "data", "--log-level", "warning")
            try:
                maghub.wait_ready()
                server = {"type": "streamable-http", "url": toolbox.url}
                async with httpx2.AsyncClient(base_url=maghub.url, timeout=30) as http:
                    added = (await http.post("/mcp/add", json={"mcpServers": {"toolbox": server}})).json()
                    assert added["servers"]["toolbox"]["connected"], added
                async with (
                    Client(f"{maghub.url}/gateway/mcp", mode=mode) as gateway,
                    Client(toolbox.url, mode=mode) as direct,
                ):
                    through, straight = Samples("gateway toolbox__echo"), Samples("direct SDK call_tool echo")
                    for i in range(rounds + WARMUP):
                        started = time.perf_counter()
                        result = await gateway.call_tool("toolbox__echo", {"text": "ping"})
                        via_gateway = time.perf_counter() - started
                        assert not result.is_error and result.content[0].text == "ping", result
                        started = time.perf_counter()
                        result = await direct.call_tool("echo", {"text": "ping"})
                        via_sdk = time.perf_counter() - started
                        assert not result.is_error
                        if i >= WARMUP:
                            through.add(via_gateway)
                            straight.add(via_sdk)
                    protocol = gateway.protocol_version
            finally:
                maghub.stop()
    print_table(f"proxied tool call round trip (echo, streamable HTTP, protocol {protocol})", [through, straight])
    print_added(f"gateway_proxied_call_{mode}", through.median, straight.median, target_ms=2.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="measured calls per path")
    parser.add_argument("--mode", choices=["auto", "legacy"], default="auto", help="the client's handshake")
    args = parser.parse_args()
    asyncio.run(proxied_call_overhead(args.n, args.mode))


if __name__ == "__main__":
    main()
