"""A tool's dependencies: pip requirement strings, checked before they reach the installer.

Each requirement becomes one argument of ``uv pip install``, so one that starts with ``-`` would be an
option (``--index-url``, ``-e``) and one that starts with ``.``, ``/`` or ``~`` a local path; both are
refused. Everything else (versions, extras, markers, ``name @ URL``) is the installer's to judge, and
its own message is what the user sees when it cannot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from maghub.errors import InvalidInputError

# A requirement starts with a distribution name (PEP 508).
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
# Tokens that continue the previous requirement when a text puts spaces inside one ("requests >= 2").
_CONTINUES = ("<", ">", "=", "!", "~", ";", "@", ",", "[", "(")
_ENDS_OPEN = ("<", ">", "=", "!", "~", ";", "@", ",", "[", "(", " and", " or")

MAX_REQUIREMENT_CHARS = 500


def parse_dependencies(text: str) -> list[str]:
    """Requirements from a text (the original's ``dependencies`` string, a ``<dependencies>`` tag):
    separated by white space, commas inside one requirement kept (``requests >= 2, < 3``)."""
    requirements: list[str] = []
    for token in text.split():
        if requirements and (token.startswith(_CONTINUES) or requirements[-1].endswith(_ENDS_OPEN)):
            requirements[-1] += token
        else:
            requirements.append(token)
    return requirements


def validate_dependencies(requirements: Iterable[str]) -> list[str]:
    """The requirements, stripped and without blanks or repeats; InvalidInputError names the bad one."""
    checked: list[str] = []
    for raw in requirements:
        requirement = raw.strip() if isinstance(raw, str) else raw
        if requirement == "":
            continue
        if (
            not isinstance(requirement, str)
            or not _NAME.match(requirement)
            or len(requirement) > MAX_REQUIREMENT_CHARS
            or any(ord(ch) < 32 for ch in requirement)
        ):
            raise InvalidInputError(
                f"Invalid dependency {raw!r}: give pip requirements that start with a package name, "
                "e.g. 'requests' or 'httpx>=0.27' (no options, no local paths)."
            )
        if requirement not in checked:
            checked.append(requirement)
    return checked


def requirement_name(requirement: str) -> str:
    """The normalised distribution name a requirement asks for (PEP 503): 'Foo_Bar>=1' -> 'foo-bar'."""
    match = _NAME.match(requirement)
    return re.sub(r"[-_.]+", "-", match.group(0)).lower() if match else ""
