"""The fixture MCP server with one tool per behaviour the connection layer must handle.

Run: ``python -m maghub.testing.mcp_servers.toolbox [--transport stdio|sse|streamable-http --port N]``.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import (
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    SamplingMessage,
    TextContent,
    TextResourceContents,
)
from pydantic import BaseModel

from maghub.testing.mcp_servers.cli import serve

# Started by ``spawn_grandchild``: a process that never ends on its own.
GRANDCHILD_CODE = "import time\nwhile True: time.sleep(60)"

# What became of each ``wait_for_cancel`` call, by token: running, cancelled or finished.
CALL_STATES: dict[str, str] = {}


class Forecast(BaseModel):
    city: str
    temperature_c: float
    conditions: str


def build_server(name: str = "toolbox") -> MCPServer:
    # log_level: MCPServer otherwise configures INFO logging for the whole process.
    server = MCPServer(name, version="1.0.0", log_level="WARNING")

    @server.tool()
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    @server.tool()
    def add(a: float, b: float) -> float:
        """Add two numbers."""
        return a + b

    @server.tool()
    async def sleep(seconds: float) -> str:
        """Wait, then answer: a tool that is slow (or hung, with a large value)."""
        await anyio.sleep(seconds)
        return f"slept {seconds}"

    @server.tool()
    async def count_steps(steps: int, ctx: Context, seconds_per_step: float = 0.1) -> str:
        """Work in ``steps`` steps, reporting progress after each (a client that asked for it gets it)."""
        for step in range(1, steps + 1):
            await anyio.sleep(seconds_per_step)
            await ctx.report_progress(step, steps, f"step {step} of {steps}")
        return f"counted {steps} steps"

    @server.tool()
    def picture(size: int = 1000, caption: str = "") -> CallToolResult:
        """An image of ``size`` bytes (a PNG header, then padding), after an optional text caption."""
        content: list[Any] = [TextContent(type="text", text=caption)] if caption else []
        content.append(
            ImageContent(type="image", data=base64.b64encode(_png_bytes(size)).decode(), mime_type="image/png")
        )
        return CallToolResult(content=content)

    @server.tool()
    def embedded_file(size: int = 1000, text: bool = False) -> CallToolResult:
        """A file as an embedded resource: text contents, or a base64 blob of ``size`` bytes."""
        uri = f"file:///data/file-{size}.{'txt' if text else 'bin'}"
        contents: Any = (
            TextResourceContents(uri=uri, mime_type="text/plain", text="x" * size)
            if text
            else BlobResourceContents(
                uri=uri, mime_type="application/octet-stream", blob=base64.b64encode(b"\0" * size).decode()
            )
        )
        return CallToolResult(content=[EmbeddedResource(type="resource", resource=contents)])

    @server.tool()
    async def ask_model(question: str, ctx: Context) -> str:
        """Ask the client's model (MCP sampling) and return its answer."""
        reply = await ctx.session.create_message(
            messages=[SamplingMessage(role="user", content=TextContent(type="text", text=question))],
            max_tokens=100,
            system_prompt="Answer briefly.",
        )
        return f"the model said: {reply.content.text}"

    @server.tool()
    async def client_roots(ctx: Context) -> str:
        """The roots the client reports, one URI a line."""
        listed = await ctx.session.list_roots()
        return "\n".join(str(root.uri) for root in listed.roots)

    @server.tool()
    def long_text(chars: int) -> str:
        """A text of ``chars`` characters."""
        return ("0123456789" * (chars // 10 + 1))[:chars]

    @server.tool()
    async def wait_for_cancel(token: str, seconds: float = 60) -> str:
        """Wait like ``sleep``, remembering whether the call finished or was cancelled by the client."""
        CALL_STATES[token] = "running"
        try:
            await anyio.sleep(seconds)
        except anyio.get_cancelled_exc_class():
            CALL_STATES[token] = "cancelled"
            raise
        CALL_STATES[token] = "finished"
        return "finished"

    @server.tool()
    def call_state(token: str) -> str:
        """What became of the ``wait_for_cancel`` call with this token ("unknown" if none)."""
        return CALL_STATES.get(token, "unknown")

    @server.tool()
    async def ask_chat(url: str, model: str, question: str) -> str:
        """Ask a maghub's chat API (``POST {url}/chat/completions``, not streamed): a tool that calls a
        model itself, as a node's tool may call the very model of the node that called it."""
        import httpx2

        async with httpx2.AsyncClient(timeout=60) as client:
            body = {"user_prompt": question, "model_name": model, "stream": False}
            response = await client.post(f"{url}/chat/completions", json=body)
        response.raise_for_status()
        return str(response.json().get("output") or response.text)

    @server.tool()
    def fail(message: str = "it failed") -> str:
        """Fail the way tools are meant to: a ToolError with a message."""
        raise ToolError(message)

    @server.tool()
    def boom() -> str:
        """Fail with an unexpected exception (the server hides its message)."""
        raise RuntimeError("internal detail that must not leak")

    @server.tool()
    def forecast(city: str) -> Forecast:
        """Structured output (plus the SDK's JSON text copy of it)."""
        return Forecast(city=city, temperature_c=21.5, conditions="sunny")

    @server.tool()
    def structured_only(value: int) -> CallToolResult:
        """Structured content with no content blocks at all."""
        return CallToolResult(content=[], structured_content={"value": value, "double": value * 2})

    @server.tool()
    def crash(code: int = 3) -> str:
        """End the server process at once, mid-call."""
        os._exit(code)

    @server.tool()
    def pid() -> int:
        """The server's own process id."""
        return os.getpid()

    @server.tool()
    def spawn_grandchild(detach: bool = False, keep_pipes: bool = True) -> int:
        """Start a long-lived child process and return its pid.

        ``keep_pipes`` lets it inherit the server's stdio, as ``npx``'s node child does; ``detach``
        moves it into a session of its own, out of the server's process group.
        """
        stdio: Any = None if keep_pipes else subprocess.DEVNULL
        child = subprocess.Popen(
            [sys.executable, "-c", GRANDCHILD_CODE],
            stdin=stdio,
            stdout=stdio,
            stderr=stdio,
            start_new_session=detach,
        )
        return child.pid

    @server.tool()
    async def add_tool(name: str, ctx: Context) -> str:
        """Register a new tool ``name`` (which returns its own name) and announce the change."""

        def named_tool() -> str:
            return name

        server.add_tool(named_tool, name=name, description=f"Added at runtime: {name}")
        await announce_tools_changed(ctx)
        return f"added {name}"

    @server.tool()
    async def remove_tool(name: str, ctx: Context) -> str:
        """Remove a tool and announce the change."""
        server.remove_tool(name)
        await announce_tools_changed(ctx)
        return f"removed {name}"

    return server


async def announce_tools_changed(ctx: Context) -> None:
    # Both eras: a 2026-07-28 client learns of changes through its subscriptions/listen stream (the
    # bus); an initialize-era client through the plain notification, which the SDK drops at 2026.
    await ctx.notify_tools_changed()
    await ctx.session.send_tool_list_changed()


def _png_bytes(size: int) -> bytes:
    header = b"\x89PNG\r\n\x1a\n"
    return header + b"\0" * max(0, size - len(header))


def main(argv: list[str] | None = None) -> None:
    serve(build_server(), argv)


if __name__ == "__main__":
    main()
