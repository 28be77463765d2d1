"""What the offline demo model answers to generation prompts (``maghub serve --demo``): a scripted,
valid design over two turns, so that both generation flows can be tried end to end without a
network — a graph of two nodes that use the demo model, and a small tool that needs no network.

A request is recognised by the marker that opens maghub's generation templates (the first line of
the system prompt); the turn is the number of assistant replies already in the conversation.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from maghub.generation.prompts import GRAPH_DESIGN_MARKER, OPTIMIZATION_HEADING, TOOL_DESIGN_MARKER

_WORD = re.compile(r"[a-z0-9]+")
FINISH_HINT = "When you are happy with it, send <end>END</end> and maghub checks and saves the design."

TOOL_MAIN = '''"""Text tools: counting and reshaping words, no network needed."""

from mcp.server.mcpserver import MCPServer

mcp = MCPServer("demo_text_tools", log_level="WARNING")


@mcp.tool()
def word_count(text: str) -> int:
    """Count the words of a text."""
    return len(text.split())


@mcp.tool()
def reverse_words(text: str) -> str:
    """Return the words of a text in reverse order."""
    return " ".join(reversed(text.split()))


if __name__ == "__main__":
    mcp.run()
'''

TOOL_README = """# Demo text tools

Written by maghub's offline demo model.

- `word_count(text)`: the number of words in `text`.
- `reverse_words(text)`: the words of `text` in reverse order.

No dependencies besides the MCP SDK; no network access.
"""


def demo_design_reply(messages: Sequence[Mapping[str, Any]], model_name: str) -> str | None:
    """The demo model's design reply to a generation conversation, or None if it is not one."""
    system = _text(messages[0]) if messages and messages[0].get("role") == "system" else ""
    turn = sum(1 for message in messages if message.get("role") == "assistant")
    requirement = next((_text(m) for m in reversed(messages) if m.get("role") == "user"), "")
    if system.startswith(GRAPH_DESIGN_MARKER):
        if OPTIMIZATION_HEADING in system:
            return _improvement(requirement)
        return _graph_turn(turn, requirement, model_name)
    if system.startswith(TOOL_DESIGN_MARKER):
        return _tool_turn(turn, requirement)
    return None


def _graph_turn(turn: int, requirement: str, model: str) -> str:
    if turn == 0:
        outline = _node(
            "outline",
            "Lists the key points of the request.",
            model,
            "You find the key points of a request and list them briefly.",
            ["start"],
            ["writer"],
        )
        return (
            f"<analysis>The request: {requirement}. Two steps serve it: one node finds the key points, "
            "a second writes the answer from them.</analysis>\n"
            "<todo>1. outline: key points (this turn)\n2. writer: the answer (next turn)</todo>\n"
            f"<graph_name>{_unique_name(requirement, 'graph')}</graph_name>\n"
            f"<graph_description>Answers: {requirement}</graph_description>\n"
            f"{outline}\n"
            "Next I add the writer node; say 'continue' (or what to change)."
        )
    writer = _node(
        "writer",
        "Writes the answer from the key points.",
        model,
        "You write a short, clear answer from the key points you are given.",
        ["outline"],
        ["end"],
    )
    return (
        "<todo>1. outline: done\n2. writer: done</todo>\n"
        f"{writer}\n<end_template>{{writer}}</end_template>\n"
        f"The design is complete. {FINISH_HINT}"
    )


def _improvement(requirement: str) -> str:
    return (
        f"<analysis>Improvement asked for: {requirement}</analysis>\n"
        "<todo>Sharpen the description; the nodes stay as they are.</todo>\n"
        f"<graph_description>Improved by the demo model: {requirement}</graph_description>\n"
        f"{FINISH_HINT}"
    )


def _tool_turn(turn: int, requirement: str) -> str:
    if turn == 0:
        return (
            f"<analysis>The request: {requirement}. A small stdio MCP server with two text tools serves it; "
            "it needs no network and no package besides the MCP SDK.</analysis>\n"
            "<todo>1. main.py with the tools (this turn)\n2. README and dependencies (next turn)</todo>\n"
            f"<folder_name>{_unique_name(requirement, 'tool')}</folder_name>\n"
            f'<script_file name="main.py">\n{TOOL_MAIN}</script_file>\n'
            "Next I write the README; say 'continue' (or what to change)."
        )
    return (
        "<todo>1. main.py: done\n2. README and dependencies: done</todo>\n"
        "<dependencies></dependencies>\n"
        f"<readme>\n{TOOL_README}</readme>\n"
        f"The tool is complete. {FINISH_HINT}"
    )


def _node(name: str, description: str, model: str, system_prompt: str, inputs: list[str], outputs: list[str]) -> str:
    config = {
        "name": name,
        "description": description,
        "model_name": model,
        "mcp_servers": [],
        "system_prompt": system_prompt,
        "user_prompt": "",
        "input_nodes": inputs,
        "output_nodes": outputs,
        "handoffs": None,
        "global_output": False,
        "context": [],
        "context_mode": "all",
        "output_enabled": True,
        "save": "",
    }
    return f"<node>{json.dumps(config, ensure_ascii=False)}</node>"


def _unique_name(requirement: str, fallback: str) -> str:
    """A plain name from the requirement's first words, with a random suffix: a new design never
    takes the name of an existing graph or tool."""
    words = _WORD.findall(requirement.lower())[:3] or [fallback]
    return f"demo_{'_'.join(words)[:40]}_{secrets.token_hex(2)}"


def _text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else ""
