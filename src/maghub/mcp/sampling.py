"""What maghub answers when an MCP server asks its client for something (SPEC §13 Client side):
``sampling/createMessage``, served by the model named in the server's ``sampling_model`` setting
(refused with a clear error when it names none), and ``roots/list``, from its ``roots`` setting.

Imports the MCP SDK's types: load it with :func:`maghub.mcp.connections.sdk.load_sdk` first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import mcp_types

from maghub.mcp.configuration.server_config import ServerConfig
from maghub.usage import Usage

log = logging.getLogger(__name__)


class Sampler(Protocol):
    """Runs one completion with a configured model; raises :class:`maghub.errors.MaghubError`
    (an unknown model) or an LLM error with a message fit for the server's user."""

    async def sample(
        self, model_name: str, messages: list[dict[str, Any]], overrides: dict[str, Any]
    ) -> tuple[str, Usage | None]: ...


UsageSink = Callable[[Usage], None]


def sampling_callback(config: ServerConfig, sampler: Sampler | None, count_usage: UsageSink) -> Any:
    """The SDK's ``sampling_callback`` for ``config``'s session."""

    async def create_message(
        _context: Any, params: mcp_types.CreateMessageRequestParams
    ) -> mcp_types.CreateMessageResult | mcp_types.ErrorData:
        model = config.sampling_model
        if not model or sampler is None:
            return mcp_types.ErrorData(
                code=mcp_types.INVALID_REQUEST,
                message=f"maghub serves no sampling for the MCP server {config.name!r}: its configuration names "
                "no sampling_model (set it to the name of a model configured in maghub)",
            )
        messages = ([{"role": "system", "content": params.system_prompt}] if params.system_prompt else []) + [
            {"role": message.role, "content": _text_of(message.content)} for message in params.messages
        ]
        overrides: dict[str, Any] = {"max_tokens": params.max_tokens}
        if params.temperature is not None:
            overrides["temperature"] = params.temperature
        if params.stop_sequences:
            overrides["stop"] = list(params.stop_sequences)
        try:
            text, usage = await sampler.sample(model, messages, overrides)
        except Exception as exc:  # the server gets the reason; maghub carries on
            log.info("MCP sampling request failed: %s", exc, extra={"server": config.name, "model": model})
            return mcp_types.ErrorData(
                code=mcp_types.INTERNAL_ERROR, message=f"the sampling model {model!r} failed: {exc}"
            )
        if usage is not None:
            count_usage(usage)
        return mcp_types.CreateMessageResult(
            role="assistant", content=mcp_types.TextContent(type="text", text=text), model=model, stop_reason="endTurn"
        )

    return create_message


def roots_callback(config: ServerConfig) -> Any:
    """The SDK's ``list_roots_callback``: the server's ``roots`` setting as file URIs."""

    async def list_roots(_context: Any) -> mcp_types.ListRootsResult:
        # pydantic turns each str into a FileUrl
        roots = [mcp_types.Root(uri=uri) for uri in config.root_uris()]  # type: ignore[arg-type]
        return mcp_types.ListRootsResult(roots=roots)

    return list_roots


def _text_of(content: Any) -> str:
    blocks: Sequence[Any] = content if isinstance(content, list) else [content]
    parts = []
    for block in blocks:
        if block.type == "text":
            parts.append(block.text)
        else:  # images and audio: a placeholder, as for tool results
            parts.append(f"[{block.type}: {getattr(block, 'mime_type', '')}]")
    return "\n".join(parts)
