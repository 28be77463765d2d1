"""Handoff tools (SPEC §6 Handoffs): one ``transfer_to_<target>`` function per target.

A transfer is a decision, not an action: the loop never runs it through a tool set. It answers the
call and ends the run with the chosen target; the graph engine does the routing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from maghub.mcp.tool_names import fit_tool_name

TRANSFER_PREFIX = "transfer_to_"


@dataclass(frozen=True, slots=True)
class TransferTarget:
    name: str
    """The target's name (a node name); any text: the tool name is made valid from it."""
    description: str = ""


def transfer_tool_name(target: str) -> str:
    """``transfer_to_<target>``; a target with characters a tool name cannot hold (spaces,
    non-ASCII node names) keeps what it can and gets a short hash, so names stay distinct."""
    return fit_tool_name(TRANSFER_PREFIX + target)


def transfer_schema(name: str, target: TransferTarget) -> dict[str, Any]:
    # The original offered no parameters. The optional message gives the model a place for what it
    # hands over: the original's node output on a handoff was usually empty.
    description = f"Transfer to {target.name}. {target.description}".strip()
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {
                    "message": {
                        "type": "string",
                        "description": f"What {target.name} should receive from you, if you have not written it "
                        "as your reply already.",
                    }
                },
                "required": [],
                "additionalProperties": False,
            },
        },
    }


def transfer_note(arguments: dict[str, Any] | None) -> str:
    """The ``message`` argument of a transfer call, "" when absent or not text."""
    message = (arguments or {}).get("message")
    return message.strip() if isinstance(message, str) else ""
