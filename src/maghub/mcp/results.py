"""The result of a tool call: the text an LLM reads (SPEC §4) and the raw MCP result.

The LLM gets the text parts of the content; without any, the JSON of the structured content; without
that, a short description of what else came back (images, audio, resources) rather than nothing.
Errors read ``Error: …`` (the original MAG gave the LLM JSON-encoded MCP content objects instead).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# The SDK loads later than this module (see maghub.mcp.connections.sdk): content blocks are told apart by their
# ``type`` field, the protocol's discriminator, rather than by class.
if TYPE_CHECKING:
    import mcp_types

# Errors are for the LLM to react to, not to read in full; a server may put a whole traceback there.
MAX_ERROR_TEXT = 2000


@dataclass(frozen=True)
class ToolCallResult:
    server: str
    tool: str
    text: str
    """What the LLM reads."""
    is_error: bool
    content: list[dict[str, Any]]
    """The MCP content blocks, in wire format (what MAG's ``/mcp/test-tool`` returns as ``result``)."""
    structured_content: dict[str, Any] | None
    raw: dict[str, Any]
    """The whole MCP ``CallToolResult`` in wire format; empty for failures maghub itself reports."""
    elapsed_ms: float

    @classmethod
    def from_mcp(cls, server: str, tool: str, result: mcp_types.CallToolResult, elapsed_ms: float) -> ToolCallResult:
        raw = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        return cls(
            server=server,
            tool=tool,
            text=llm_text(result),
            is_error=bool(result.is_error),
            content=raw.get("content", []),
            structured_content=result.structured_content,
            raw=raw,
            elapsed_ms=elapsed_ms,
        )

    @classmethod
    def failure(cls, server: str, tool: str, message: str, elapsed_ms: float = 0.0) -> ToolCallResult:
        """A failed call in the same shape, e.g. for an error maghub raised before the server answered."""
        return cls(
            server=server,
            tool=tool,
            text=error_text(message),
            is_error=True,
            content=[{"type": "text", "text": message}],
            structured_content=None,
            raw={},
            elapsed_ms=elapsed_ms,
        )


def llm_text(result: mcp_types.CallToolResult) -> str:
    texts = [text for block in result.content if (text := _block_text(block)) is not None]
    if texts:
        body = "\n".join(texts)
    elif result.structured_content is not None:
        body = json.dumps(result.structured_content, ensure_ascii=False)
    else:
        body = "\n".join(_describe(block) for block in result.content)
    if result.is_error:
        return error_text(body or "the tool failed without saying why")
    return body


def error_text(message: str) -> str:
    message = message.strip()
    if len(message) > MAX_ERROR_TEXT:
        message = message[:MAX_ERROR_TEXT] + "…"
    # Servers often start their messages with "Error executing tool …": don't say it twice.
    return message if message.lower().startswith("error") else f"Error: {message}"


def _block_text(block: mcp_types.ContentBlock) -> str | None:
    if block.type == "text":
        return block.text
    if block.type == "resource":
        # Embedded resource contents carry either ``text`` or a base64 ``blob``.
        return getattr(block.resource, "text", None)
    return None


def _describe(block: mcp_types.ContentBlock) -> str:
    if block.type in ("image", "audio"):
        return f"[{block.type} {block.mime_type}]"
    if block.type == "resource_link":
        return f"[resource link {block.uri}]"
    if block.type == "resource":
        return f"[resource {block.resource.uri}]"
    return f"[{block.type}]"
