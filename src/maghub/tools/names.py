"""The names a tool design brings: the tool's folder and its script files (SPEC §11).

Both become path components, so both must be plain names; anything else is refused with a message
that says what a valid name looks like (never silently rewritten: the design refers to its files by
these names).
"""

from __future__ import annotations

from maghub.errors import InvalidInputError
from maghub.paths import PLAIN_NAME

_NAME_RULE = "1-64 characters: letters, digits, '_' and '-', starting with a letter or digit"


def validate_tool_name(name: str) -> str:
    """``name`` if it can be a tool folder (and MCP server) name, else InvalidInputError."""
    if not isinstance(name, str) or not PLAIN_NAME.fullmatch(name):
        raise InvalidInputError(f"Invalid tool name {name!r}: use {_NAME_RULE}, e.g. 'weather_tool'.")
    return name


def validate_script_file_name(name: str) -> str:
    """``name`` if it can be a script file of a tool (``<plain name>.py``), else InvalidInputError."""
    stem = name[: -len(".py")] if isinstance(name, str) and name.endswith(".py") else None
    if stem is None or not PLAIN_NAME.fullmatch(stem):
        raise InvalidInputError(
            f"Invalid script file name {name!r}: a plain '*.py' name without folders, {_NAME_RULE} "
            "before '.py', e.g. 'main.py' or 'weather_api.py'."
        )
    return name
