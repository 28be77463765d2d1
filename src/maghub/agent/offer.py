"""The tools offered to the model during one run: a tool set's tools plus transfer tools, under
names that are unique and fixed for the run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from maghub.agent.toolsets import ToolSet
from maghub.agent.transfers import TransferTarget, transfer_schema, transfer_tool_name
from maghub.mcp.tool_names import with_hash


class ToolOffer:
    """Which name leads where. Transfer tools claim their names first: SPEC §6 fixes them
    (``transfer_to_<target>``) and the graph's routing depends on them, so a tool of the tool set
    with the same name is offered under a renamed (hashed) name instead."""

    def __init__(self, tools: ToolSet | None, transfers: Sequence[TransferTarget]) -> None:
        self.schemas: list[dict[str, Any]] = []
        self._transfers: dict[str, TransferTarget] = {}
        self._ordinary: dict[str, str] = {}  # offered name → the tool set's name
        self._taken: set[str] = set()
        for target in transfers:
            if target.name in self.transfer_targets:  # each target once; the first description wins
                continue
            name = self._claim(transfer_tool_name(target.name))
            self._transfers[name] = target
            self.schemas.append(transfer_schema(name, target))
        for schema in tools.schemas() if tools is not None else ():
            function = schema["function"]
            name = self._claim(function["name"])
            self._ordinary[name] = function["name"]
            renamed = name != function["name"]
            self.schemas.append({**schema, "function": {**function, "name": name}} if renamed else dict(schema))

    def transfer_target(self, name: str) -> TransferTarget | None:
        return self._transfers.get(name)

    def tool_set_name(self, name: str) -> str | None:
        """The tool set's name for an offered ordinary tool, None if ``name`` is not one."""
        return self._ordinary.get(name)

    @property
    def transfer_targets(self) -> list[str]:
        return [target.name for target in self._transfers.values()]

    @property
    def names(self) -> list[str]:
        return [schema["function"]["name"] for schema in self.schemas]

    def _claim(self, wanted: str) -> str:
        name, attempt = wanted, 0
        while name in self._taken:
            attempt += 1
            name = with_hash(wanted, f"{wanted}\0{attempt}")
        self._taken.add(name)
        return name
