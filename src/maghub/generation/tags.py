"""The tag protocol of generation replies (reference §3.5, §8.4), read in the order the tags appear.

A reply is scanned once for every known tag; each becomes an :class:`Edit` in reply order, so a
reply that adds a file and deletes another (or deletes a node and adds it back) does what it says
(the original applied deletions last, and lost new files). Tags are matched case-insensitively,
their text trimmed. Nothing is validated here but the form of each tag's own content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FINISH_COMMAND = "<end>END</end>"

GRAPH_TEXT_FIELDS = ("analysis", "todo", "graph_name", "graph_description", "end_template")
TOOL_TEXT_FIELDS = ("analysis", "todo", "folder_name", "dependencies", "readme")

_SIMPLE_TAGS = sorted({*GRAPH_TEXT_FIELDS, *TOOL_TEXT_FIELDS, "node", "delete_node", "delete_script_file"})
_TAG = re.compile(
    r"<(?P<tag>" + "|".join(_SIMPLE_TAGS) + r")>(?P<body>.*?)</(?P=tag)>"
    r"|<script_file\s+name\s*=\s*(?P<quote>[\"'])(?P<file>.*?)(?P=quote)\s*>(?P<code>.*?)</script_file>",
    re.IGNORECASE | re.DOTALL,
)
_FENCE = re.compile(r"^```[\w-]*\s*\n?(.*?)\n?```$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Edit:
    """One tag: ``kind`` is the tag's name (lower case); ``name`` the file of a ``script_file``."""

    kind: str
    text: str
    name: str = ""


def is_finish_command(text: str) -> bool:
    return text.strip() == FINISH_COMMAND


def read_edits(reply: str, kinds: frozenset[str]) -> list[Edit]:
    """The tags of ``reply`` whose kind is in ``kinds``, in the order they appear."""
    edits = []
    for match in _TAG.finditer(reply):
        if match.group("tag") is not None:
            edit = Edit(match.group("tag").lower(), match.group("body").strip())
        else:
            edit = Edit("script_file", strip_fence(match.group("code").strip()), match.group("file").strip())
        if edit.kind in kinds:
            edits.append(edit)
    return edits


def strip_fence(text: str) -> str:
    """``text`` without a Markdown code fence around all of it (models often add one)."""
    match = _FENCE.match(text.strip())
    return match.group(1).strip() if match else text


GRAPH_EDITS = frozenset({*GRAPH_TEXT_FIELDS, "node", "delete_node"})
TOOL_EDITS = frozenset({*TOOL_TEXT_FIELDS, "script_file", "delete_script_file"})
