"""The generator template (``GET /mcp/ai-generator-template``, the system prompt of
``POST /mcp/generate``): maghub's own text, a package file, teaching the tag protocol of SPEC §11 and
the ``mcp`` 2.x server API. Its example server is run by the tests, so the API it teaches is the
installed SDK's."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from importlib import resources

from maghub.mcp.tools import ToolSpec

TOOLS_PLACEHOLDER = "{TOOLS_DESCRIPTION}"
NO_TOOLS = "No MCP tools are connected right now."
_PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


@cache
def raw_template() -> str:
    return resources.files("maghub.tools").joinpath("templates", "generator.md").read_text(encoding="utf-8")


def tools_description(tools: Iterable[ToolSpec]) -> str:
    """The tools of the connected servers, by server: ``## Server: s`` then ``- **tool**: description``."""
    by_server: dict[str, list[ToolSpec]] = {}
    for tool in tools:
        by_server.setdefault(tool.server, []).append(tool)
    if not by_server:
        return NO_TOOLS
    sections = []
    for server, server_tools in by_server.items():
        lines = [
            f"- **{tool.name}**: {' '.join(tool.description.split()) or '(no description)'}" for tool in server_tools
        ]
        sections.append(f"### Server: {server}\n\n" + "\n".join(lines))
    return "\n\n".join(sections)


def generator_template(tools: Iterable[ToolSpec]) -> str:
    """The template with the existing tools filled in (substituted once, so braces in a tool's
    description are never taken for a placeholder)."""
    return raw_template().replace(TOOLS_PLACEHOLDER, tools_description(tools), 1)


def example_server() -> str:
    """The complete server the template shows (the first Python block)."""
    match = _PYTHON_BLOCK.search(raw_template())
    if match is None:  # a broken package file; the tests catch it before a release
        raise RuntimeError("the generator template has no example server")
    return match.group(1)
