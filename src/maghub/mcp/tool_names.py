"""Tool names that every OpenAI-compatible provider accepts: ``^[a-zA-Z0-9_-]{1,64}$``.

Shared by the MCP tool index (:mod:`maghub.mcp.tools`) and the agent's own tools (transfers,
renamed collisions).
"""

from __future__ import annotations

import hashlib
import re

MAX_TOOL_NAME_LENGTH = 64
INVALID_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
_HASH_LENGTH = 8


def fit_tool_name(wanted: str) -> str:
    """``wanted`` when valid; otherwise its valid characters plus a hash of ``wanted``, so that two
    different wanted names never end up equal (other than by a hash collision)."""
    name = INVALID_NAME_CHARS.sub("_", wanted)
    if name == wanted and 0 < len(name) <= MAX_TOOL_NAME_LENGTH:
        return name
    return with_hash(name or "tool", wanted)


def with_hash(name: str, key: str) -> str:
    """``name`` cut to leave room for ``_<hash of key>``; the prefix is kept, so a cut transfer
    name still starts with ``transfer_to_``."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:_HASH_LENGTH]
    return f"{name[: MAX_TOOL_NAME_LENGTH - _HASH_LENGTH - 1]}_{digest}"
