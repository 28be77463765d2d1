"""Recording an agent loop's steps in a stored round as they come (SPEC §6 Durability), the same way
for chat turns and graph nodes: the round is opened while the first LLM call already runs, each
tool call and tool result is appended the moment it exists, and the final answer is held back so
that the round's end stores it in the same transaction. Storage itself is the caller's (``append``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from maghub.agent.events import AssistantTurn, ToolResult
from maghub.usage import Usage

Round = TypeVar("Round")
Append = Callable[[Round, dict[str, Any], Usage | None], Awaitable[None]]


class RoundRecorder(Generic[Round]):
    def __init__(self, opening: asyncio.Task[Round], append: Append[Round]) -> None:
        self._opening = opening
        self._append = append
        self._answer: AssistantTurn | None = None

    async def opened(self) -> Round:
        """The round, once stored. Shielded: whoever is cancelled while it is being opened can still end it."""
        return await asyncio.shield(self._opening)

    async def record(self, event: AssistantTurn | ToolResult) -> None:
        if isinstance(event, ToolResult):
            await self._append(await self.opened(), event.message, event.usage)
        elif event.tool_calls:
            await self._append(await self.opened(), event.stored_message, event.usage or Usage())
        else:
            self._answer = event  # an answer without tool calls is the loop's last turn

    def take_answer(self) -> AssistantTurn | None:
        """The held-back final answer (once): the caller stores it with the round's end."""
        answer, self._answer = self._answer, None
        return answer
