"""The command line shared by the fixture servers: ``[--transport stdio|sse|streamable-http --port N]``."""

from __future__ import annotations

import argparse

from mcp.server.mcpserver import MCPServer

TRANSPORTS = ("stdio", "sse", "streamable-http")


def serve(server: MCPServer, argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=f"Fixture MCP server {server.name!r}.")
    parser.add_argument("--transport", choices=TRANSPORTS, default="stdio")
    parser.add_argument("--port", type=int, default=8000, help="port for sse and streamable-http (loopback only)")
    args = parser.parse_args(argv)
    if args.transport == "stdio":
        server.run("stdio")
    elif args.transport == "sse":
        server.run("sse", host="127.0.0.1", port=args.port)
    else:
        server.run("streamable-http", host="127.0.0.1", port=args.port)
