"""The toolbox server over stdio, speaking only the initialize-era protocol, like servers built with
the TypeScript SDK or the Python SDK 1.x: clients fall back to ``initialize``, and tool list changes
arrive as plain notifications.

Run: ``python -m maghub.testing.mcp_servers.legacy`` (stdio only).
"""

from __future__ import annotations

import anyio
from mcp.server.runner import serve_loop
from mcp.server.stdio import stdio_server

from maghub.testing.mcp_servers.toolbox import build_server


async def serve_handshake_era_only() -> None:
    # MCPServer.run() serves both eras; the SDK's handshake-only loop needs the low-level server.
    server = build_server("legacy")._lowlevel_server
    async with stdio_server() as (read_stream, write_stream), server.lifespan(server) as lifespan_state:
        await serve_loop(
            server,
            read_stream,
            write_stream,
            lifespan_state=lifespan_state,
            init_options=server.create_initialization_options(),
        )


def main() -> None:
    anyio.run(serve_handshake_era_only)


if __name__ == "__main__":
    main()
