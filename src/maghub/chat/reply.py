"""A whole chat turn collected into one reply (``stream: false``)."""

from __future__ import annotations

import time
import uuid
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from maghub.agent import AgentFailed, AgentFinished
from maghub.chat.service import ChatNotice, ChatTurn
from maghub.errors import UpstreamError
from maghub.usage import Usage


@dataclass
class ChatReply:
    id: str
    created: int
    model: str
    conversation_id: str | None
    messages: list[dict[str, Any]]
    output: str
    usage: Usage
    stop_reason: str
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The original's ``{id, object, created, model, messages, output, usage}`` plus an
        OpenAI-style ``choices[0].message`` for OpenAI clients."""
        finish_reason = "length" if self.stop_reason == "max_llm_calls" else "stop"
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "conversation_id": self.conversation_id,
            "messages": self.messages,
            "output": self.output,
            "usage": self.usage.to_dict(),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.output},
                    "finish_reason": finish_reason,
                }
            ],
            "warnings": self.warnings,
        }


async def collect_reply(turn: ChatTurn) -> ChatReply:
    """Run ``turn`` to its end. A failed LLM call raises :class:`UpstreamError` (the turn is
    stored as interrupted, as in streaming)."""
    request = turn.request
    system = [turn.system_message] if turn.system_message else []
    warnings: list[str] = []
    end: AgentFinished | AgentFailed | None = None
    async with aclosing(turn.events()) as events:
        async for event in events:  # to the end: the turn stores its title after the last agent event
            if isinstance(event, ChatNotice):
                warnings.append(event.message)
            elif isinstance(event, AgentFinished | AgentFailed):
                end = event
    if not isinstance(end, AgentFinished):
        assert end is not None, "a chat turn always ends with AgentFinished or AgentFailed"
        raise UpstreamError(end.message)
    return ChatReply(
        id=f"chatcmpl-{uuid.uuid4().hex[:24]}",
        created=int(time.time()),
        model=request.model_name,
        conversation_id=request.conversation_id,
        messages=[*system, turn.user_message, *end.messages_added],
        output=end.output,
        usage=end.usage,
        stop_reason=end.stop_reason,
        warnings=warnings,
    )
