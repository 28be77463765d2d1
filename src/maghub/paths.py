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
