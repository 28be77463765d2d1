"""Adds up streamed chat-completion chunks into one assistant message.

It works on plain chunk dicts (not SDK models) so that the same dict serves relaying and
assembling, and so that provider extras such as ``reasoning_content`` need no special casing.
"""

from __future__ import annotations

import uuid
from typing import Any

from maghub.llm.types import AssistantMessage, ChunkEvent
from maghub.usage import Usage


class _ToolCall:
    __slots__ = ("arguments", "id", "name")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.arguments: list[str] = []


class StreamAssembler:
    """Feed it every chunk of one stream with :meth:`add`; read the totals at the end.

    ``started`` becomes true at the first generated token (content, reasoning or tool call): the
    point after which a failed request can no longer be retried transparently.
    """

    __slots__ = ("_calls", "_content", "_last_index", "_reasoning", "finish_reason", "started", "usage")

    def __init__(self) -> None:
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, _ToolCall] = {}
        self._last_index = -1
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.started = False

    def add(self, chunk: dict[str, Any]) -> ChunkEvent:
        usage = chunk.get("usage")
        if usage:
            self.usage = Usage.from_dict(usage)
        content = reasoning = ""
        # The usage chunk has no choices; with n > 1 only choice 0 is assembled.
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content") or ""
            # DeepSeek/vLLM say reasoning_content, OpenRouter says reasoning.
            reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
            if not isinstance(reasoning, str):
                reasoning = ""
            if content:
                self._content.append(content)
            if reasoning:
                self._reasoning.append(reasoning)
            tool_calls = delta.get("tool_calls")
            if tool_calls:
                for call_delta in tool_calls:
                    self._add_tool_call(call_delta)
            if content or reasoning or tool_calls:
                self.started = True
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return ChunkEvent(chunk, content, reasoning)

    def _add_tool_call(self, delta: dict[str, Any]) -> None:
        index = delta.get("index")
        if not isinstance(index, int):
            # Some OpenAI-compatible servers omit the index: a new id starts a call, anything else
            # continues the latest one.
            latest = self._calls.get(self._last_index)
            new = latest is None or (delta.get("id") and latest.id and delta["id"] != latest.id)
            index = self._last_index + 1 if new else self._last_index
        call = self._calls.get(index)
        if call is None:
            call = self._calls[index] = _ToolCall()
        self._last_index = max(self._last_index, index)
        if delta.get("id") and not call.id:
            call.id = delta["id"]
        function = delta.get("function") or {}
        if function.get("name") and not call.name:
            call.name = function["name"]
        if function.get("arguments"):
            call.arguments.append(function["arguments"])

    def message(self) -> AssistantMessage:
        tool_calls = [
            {
                # Every tool call needs an id for its result to refer to; some local servers send none.
                "id": call.id or f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                # "" is not valid JSON and some providers refuse it when the call is sent back.
                "function": {"name": call.name, "arguments": "".join(call.arguments) or "{}"},
            }
            for _, call in sorted(self._calls.items())
        ]
        return AssistantMessage(
            content="".join(self._content),
            reasoning_content="".join(self._reasoning) or None,
            tool_calls=tool_calls,
        )
