"""The fixture MCP server with every kind of content, resources and prompts (what the gateway must
pass through unchanged).

Run: ``python -m maghub.testing.mcp_servers.media [--transport stdio|sse|streamable-http --port N]``.
"""

from __future__ import annotations

import base64

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, EmbeddedResource, ImageContent, TextContent, TextResourceContents

from maghub.testing.mcp_servers.cli import serve

# A 1x1 transparent PNG.
TINY_PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002"
        "0000050001e226059b0000000049454e44ae426082"
    )
).decode()


def build_server(name: str = "media") -> MCPServer:
    server = MCPServer(name, version="1.0.0", log_level="WARNING")

    @server.tool()
    def picture() -> CallToolResult:
        """A text part, an image and an embedded resource, with structured content."""
        return CallToolResult(
            content=[
                TextContent(type="text", text="a tiny picture"),
                ImageContent(type="image", data=TINY_PNG, mime_type="image/png"),
                EmbeddedResource(
                    type="resource",
                    resource=TextResourceContents(uri="memo://picture", mime_type="text/plain", text="caption"),
                ),
            ],
            structured_content={"width": 1, "height": 1},
        )

    @server.tool()
    def refuse(reason: str) -> CallToolResult:
        """A result the server itself marks as an error."""
        return CallToolResult(content=[TextContent(type="text", text=f"refused: {reason}")], is_error=True)

    @server.resource("memo://greeting", name="greeting", mime_type="text/plain")
    def greeting() -> str:
        return "hello from media"

    @server.prompt()
    def summarize(topic: str) -> str:
        """Ask for a summary of a topic."""
        return f"Summarize {topic} in one line."

    return server


def main(argv: list[str] | None = None) -> None:
    serve(build_server(), argv)


if __name__ == "__main__":
    main()
