"""Token counts estimated without a tokenizer, for compaction statistics.

These are estimates, not what any provider bills: real counts depend on the model's tokenizer,
which maghub does not ship (it would be a large dependency per model family). The heuristic is
deterministic and close enough to compare a conversation before and after compaction:

- a CJK character (Han, kana, Hangul, CJK punctuation) ≈ 1 token;
- any other text ≈ 1 token per 4 characters, rounded up;
- each message costs a few tokens of framing, and each tool call its name, its arguments and framing.

``reasoning_content`` is not counted: it is never sent back to a model as history.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from maghub.chat.language import CJK_CHAR

__all__ = ["estimate_message_tokens", "estimate_tokens", "message_text"]

CHARS_PER_TOKEN = 4
# The role marker and separators a chat template wraps around every message (OpenAI documents 3-4).
MESSAGE_OVERHEAD_TOKENS = 4
# The id, type and JSON structure around a tool call's name and arguments.
TOOL_CALL_OVERHEAD_TOKENS = 8


def estimate_tokens(text: str) -> int:
    """An estimate of how many tokens ``text`` takes (see the module notes)."""
    cjk = len(CJK_CHAR.findall(text))
    other = len(text) - cjk
    return cjk + -(-other // CHARS_PER_TOKEN)


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a stored message whose content is a string, a list of content parts or null."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = (part.get("text") for part in content if isinstance(part, Mapping))
        return "\n".join(part for part in parts if isinstance(part, str))
    return ""


def estimate_message_tokens(message: Mapping[str, Any]) -> int:
    """An estimate of the tokens one OpenAI-style message costs when sent as history."""
    tokens = MESSAGE_OVERHEAD_TOKENS + estimate_tokens(message_text(message))
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping):
            continue
        tokens += TOOL_CALL_OVERHEAD_TOKENS
        for field in ("name", "arguments"):
            value = function.get(field)
            if isinstance(value, str):
                tokens += estimate_tokens(value)
    return tokens
