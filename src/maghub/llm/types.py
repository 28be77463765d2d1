"""Values produced by :class:`maghub.llm.client.LLMClient`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

from maghub.usage import Usage


@dataclass(slots=True)
class AssistantMessage:
    """The assistant turn assembled from a stream.

    ``tool_calls`` are in OpenAI wire form, ``{"id", "type": "function", "function": {"name",
    "arguments"}}``, ordered by their stream ``index``; ``arguments`` is the JSON text as sent.
    """

    content: str = ""
    reasoning_content: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)

    def to_openai(self, *, include_reasoning: bool = False) -> dict[str, Any]:
        """The message to append to the conversation for the next request.

        Reasoning is left out by default: DeepSeek, among others, rejects requests that send
        ``reasoning_content`` back.
        """
        message: dict[str, Any] = {
            "role": "assistant",
            "content": self.content or (None if self.tool_calls else ""),
        }
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        if include_reasoning and self.reasoning_content:
            message["reasoning_content"] = self.reasoning_content
        return message


@dataclass(frozen=True, slots=True)
class ChunkEvent:
    """One chunk exactly as the provider sent it (the parsed JSON, nulls included, fit to relay
    as SSE verbatim), plus the text it adds to choice 0, so consumers need not dig into it."""

    chunk: dict[str, Any]
    content: str = ""
    reasoning: str = ""


@dataclass(frozen=True, slots=True)
class FinalEvent:
    """The last event of a stream: everything the chunks added up to.

    ``usage`` is None when the provider sent none; ``attempts`` counts the HTTP requests made
    (more than one when a failure before the first token was retried).
    """

    message: AssistantMessage
    finish_reason: str | None
    usage: Usage | None
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    """The call waits for one of its model's ``max_concurrency`` slots (the first event then; none
    when a slot was free)."""

    model: str
    limit: int


StreamEvent: TypeAlias = QueuedEvent | ChunkEvent | FinalEvent


@dataclass(frozen=True, slots=True)
class CompletionResult:
    """The answer of a helper call (title, summary): text without any ``<think>`` part."""

    text: str
    usage: Usage | None
    finish_reason: str | None
