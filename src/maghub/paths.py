"""Where things live under the data dir. Names that come from users become path components only
through these functions, so nothing can escape the data dir (SPEC §9)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def safe_component(name: str, *, max_chars: int = 60) -> str:
    """A directory or file name for ``name``: readable where possible, unique always (a hash of the
    whole name is appended), never a separator, ``.``/``..`` or an absolute path."""
    readable = _UNSAFE.sub("_", name)[:max_chars].strip("_") or "item"
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"{readable}-{digest}"


def conversation_files_dir(data_dir: Path, conversation_id: str) -> Path:
    """Files a conversation produced (a graph run's saved node outputs); removed with it."""
    return data_dir / "conversations" / safe_component(conversation_id)


# A plain name (SPEC §11): usable as one path component on every OS, never ``.``/``..`` or a separator.
PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def tools_dir(data_dir: Path) -> Path:
    """Where AI-generated MCP tools live, one folder each."""
    return data_dir / "tools"


def tool_dir(data_dir: Path, name: str) -> Path:
    """The folder of the tool ``name``; ``name`` must already be a plain name (``tools.names``
    validates it with a message for the user; this is the last guard)."""
    if not PLAIN_NAME.fullmatch(name):
        raise ValueError(f"not a plain tool name: {name!r}")
    return tools_dir(data_dir) / name
