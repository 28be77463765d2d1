"""Tool offers of the agent loop: transfer tool names, collisions, and tool sets other than MCP."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import aclosing
from typing import Any

from maghub.agent import AgentFinished, ToolOutcome, ToolResult, TransferTarget, run_agent, transfer_tool_name
from maghub.agent.offer import ToolOffer
from maghub.llm.client import LLMClient
from maghub.testing.scripted_llm import Reply, ScriptedLLM

VALID_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class FakeTools:
    """A tool set of plain Python functions; ``explode`` raises, as a buggy tool set might."""

    def __init__(self, *names: str) -> None:
        self.names = names
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def schemas(self) -> Sequence[Mapping[str, Any]]:
        return [
            {"type": "function", "function": {"name": name, "description": name, "parameters": {"type": "object"}}}
            for name in self.names
        ]

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        self.calls.append((name, arguments))
        if name == "explode":
            raise RuntimeError("secret internals")
        return ToolOutcome(f"ran {name}")


def test_transfer_tool_names_are_valid_and_distinct() -> None:
    assert transfer_tool_name("B") == "transfer_to_B"
    targets = ["写作者", "审稿人", "writer two", "writer_two", "x" * 100, "x" * 101]
    names = [transfer_tool_name(target) for target in targets]
    assert all(VALID_NAME.match(name) and name.startswith("transfer_to_") for name in names), names
    assert len(set(names)) == len(names)
    assert transfer_tool_name("写作者") == names[0]  # deterministic


def test_transfer_tools_take_their_names_and_colliding_tools_are_renamed() -> None:
    tools = FakeTools("transfer_to_B", "echo")
    offer = ToolOffer(tools, [TransferTarget("B", "the writer"), TransferTarget("B"), TransferTarget("写作者")])

    names = offer.names
    assert len(names) == len(set(names)) == 4 and all(VALID_NAME.match(name) for name in names)
    transfer_b = offer.transfer_target("transfer_to_B")
    assert transfer_b is not None and transfer_b.description == "the writer"  # each target once, first wins
    assert offer.transfer_targets == ["B", "写作者"]
    (renamed,) = [name for name in names if offer.tool_set_name(name) == "transfer_to_B"]
    assert renamed != "transfer_to_B" and offer.transfer_target(renamed) is None
    assert offer.tool_set_name("echo") == "echo" and offer.tool_set_name("transfer_to_B") is None
    (schema,) = [s for s in offer.schemas if s["function"]["name"] == renamed]
    assert schema["function"]["description"] == "transfer_to_B"  # only the name changes
    assert tools.schemas()[0]["function"]["name"] == "transfer_to_B"  # the tool set's schema is untouched


async def test_any_tool_set_works_and_its_exceptions_become_error_results(llm: ScriptedLLM, client: LLMClient) -> None:
    tools = FakeTools("explode", "transfer_to_B", "greet")
    targets = [TransferTarget("B")]
    renamed = next(
        name for name in ToolOffer(tools, targets).names if name not in ("explode", "greet", "transfer_to_B")
    )
    calls: list[dict[str, Any]] = [
        {"name": "explode", "arguments": {}},
        {"name": renamed, "arguments": {"x": 1}},
        {"name": "greet"},
    ]
    llm.script(Reply(tool_calls=calls), times=1)
    llm.script(Reply(content="ok"), last_is_tool_result=True)
    async with aclosing(run_agent(client, [{"role": "user", "content": "go"}], tools=tools, transfers=targets)) as run:
        events = [event async for event in run]

    exploded, collided, greeted = [e for e in events if isinstance(e, ToolResult)]
    assert exploded.is_error and exploded.content == "Error: the tool 'explode' failed unexpectedly"
    assert "secret" not in exploded.content
    assert (collided.name, collided.content) == (renamed, "ran transfer_to_B")
    assert greeted.content == "ran greet"
    assert tools.calls == [("explode", {}), ("transfer_to_B", {"x": 1}), ("greet", {})]
    done = events[-1]
    assert isinstance(done, AgentFinished) and done.stop_reason == "completed" and done.transfer is None
    assert done.tool_output == f"{exploded.content}\nran transfer_to_B\nran greet"
