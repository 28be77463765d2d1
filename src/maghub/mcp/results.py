"""The result of a tool call: the text an LLM reads (SPEC §4) and the raw MCP result.

The LLM gets the content blocks in order (SPEC §13 Results to the LLM): text parts and the text of
embedded text resources as they are; images, audio, binary resources and resource links as a short
placeholder naming their type and size, never their base64 data (a 150 KB image would be 200 000
characters of noise; models marked ``vision`` get the images themselves besides); without any
content blocks, the JSON of the structured content. The whole text is capped (``max_chars``,
``MAGHUB_TOOL_RESULT_MAX_CHARS``) with a note saying how much was cut. Errors read ``Error: …``
(the original MAG gave the LLM JSON-encoded MCP content objects instead).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from maghub.usage import Usage

# The SDK loads later than this module (see maghub.mcp.connections.sdk): content blocks are told apart by their
# ``type`` field, the protocol's discriminator, rather than by class.
if TYPE_CHECKING:
    import mcp_types

# Errors are for the LLM to react to, not to read in full; a server may put a whole traceback there.
MAX_ERROR_TEXT = 2000
DEFAULT_MAX_CHARS = 100_000


@dataclass(frozen=True, slots=True)
class ToolImage:
    mime_type: str
    data: str
    """Base64."""

    def openai_part(self) -> dict[str, Any]:
        return {"type": "image_url", "image_url": {"url": f"data:{self.mime_type};base64,{self.data}"}}


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
    sampling_usage: Usage | None = None
    """Tokens the server's sampling requests used during the call (served by maghub's models)."""

    @property
    def images(self) -> tuple[ToolImage, ...]:
        """The image blocks, for models that read images."""
        return tuple(
            ToolImage(block.get("mimeType") or "image/png", block["data"])
            for block in self.content
            if block.get("type") == "image" and block.get("data")
        )

    @classmethod
    def from_mcp(
        cls,
        server: str,
        tool: str,
        result: mcp_types.CallToolResult,
        elapsed_ms: float,
        *,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> ToolCallResult:
        raw = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        return cls(
            server=server,
            tool=tool,
            text=llm_text(result, max_chars),
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


def llm_text(result: mcp_types.CallToolResult, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    if result.content:
        body = "\n".join(_block_text(block) for block in result.content)
    elif result.structured_content is not None:
        body = json.dumps(result.structured_content, ensure_ascii=False)
    else:
        body = ""
    if result.is_error:
        return error_text(body or "the tool failed without saying why")
    return capped(body, max_chars)


def capped(text: str, max_chars: int) -> str:
    """``text``, or its first ``max_chars`` characters and a note saying how much was cut."""
    if len(text) <= max_chars:
        return text
    return (
        text[:max_chars]
        + f"\n[… {len(text) - max_chars:,} more characters cut: the tool result had {len(text):,} characters, "
        f"{max_chars:,} are shown]"
    )


def error_text(message: str) -> str:
    message = message.strip()
    if len(message) > MAX_ERROR_TEXT:
        message = message[:MAX_ERROR_TEXT] + "…"
    # Servers often start their messages with "Error executing tool …": don't say it twice.
    return message if message.lower().startswith("error") else f"Error: {message}"


def _block_text(block: mcp_types.ContentBlock) -> str:
    if block.type == "text":
        return block.text
    if block.type == "image":  # models that read images get it too (maghub.agent.loop)
        return f"[image: {block.mime_type}, {_size(_base64_bytes(block.data))}]"
    if block.type == "audio":
        return f"[audio: {block.mime_type}, {_size(_base64_bytes(block.data))}; not shown]"
    if block.type == "resource_link":
        described = ", ".join(part for part in (block.mime_type, _size(block.size) if block.size else None) if part)
        return f"[resource link: {block.uri}" + (f" ({described})" if described else "") + "]"
    if block.type == "resource":
        contents = block.resource
        text = getattr(contents, "text", None)
        if text is not None:
            return text
        blob = getattr(contents, "blob", "") or ""
        mime = f"{contents.mime_type}, " if contents.mime_type else ""
        return f"[resource: {contents.uri} ({mime}{_size(_base64_bytes(blob))}); not shown]"
    return f"[{block.type}]"


def _base64_bytes(data: str | bytes) -> int:
    """The decoded size of base64 ``data``, without decoding it."""
    length = len(data)
    padding = len(data) - len(data.rstrip(b"=")) if isinstance(data, bytes) else len(data) - len(data.rstrip("="))
    return max(0, length * 3 // 4 - padding)


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} byte" + ("" if count == 1 else "s")
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KB"
    return f"{count / (1024 * 1024):.1f} MB"
