"""The toolbox server, but it prints junk to stdout before it starts serving.

Some third-party servers do this (``time-mcp`` prints "Starting Time MCP server..."); over stdio the
junk reaches the client as non-JSON lines, which must not break the session.

Run: ``python -m maghub.testing.mcp_servers.noisy [--transport ...]``.
"""

from __future__ import annotations

import sys

from maghub.testing.mcp_servers.cli import serve
from maghub.testing.mcp_servers.toolbox import build_server


def main(argv: list[str] | None = None) -> None:
    print("Starting noisy MCP server...", flush=True)
    print("{not json either", flush=True)
    sys.stdout.flush()
    serve(build_server("noisy"), argv)


if __name__ == "__main__":
    main()
