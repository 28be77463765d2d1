from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from maghub.api.schemas import Open
from maghub.api.schemas.common import Done
from maghub.chat.conversations import CompactType
from maghub.states import ConversationStatus as Status


class ConversationSummary(Open):
    conversation_id: str
    id_: str = Field(alias="_id", description="The same id, under the original's key.")
    user_id: str
    type: str
    title: str | None
    created_at: str
    updated_at: str
    round_count: int
    total_token_usage: dict[str, Any]
    status: str
    tags: list[str]


class ConversationPage(Open):
    conversations: list[ConversationSummary]
    total_count: int
    limit: int
    offset: int


class ConversationDetail(ConversationSummary):
    """A conversation with its rounds (each ``{round, status, messages, token_usage, ...}``)."""

    rounds: list[dict[str, Any]]
    generation_type: str | None
    parsed_results: Any
    execution_chain: Any
    final_result: Any


class ConversationChange(Done):
    conversation_id: str


class StatusChanged(ConversationChange):
    new_status: Status


class TitleChanged(ConversationChange):
    title: str


class TagsChanged(ConversationChange):
    tags: list[str]


class Compacted(ConversationChange):
    compact_type: CompactType
    changed: bool
    statistics: dict[str, Any]
    error: None


class ChatReply(Open):
    """The non-streamed reply (``stream: false``): the original's fields plus OpenAI's ``choices``."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    conversation_id: str | None
    messages: list[dict[str, Any]]
    output: str
    usage: dict[str, Any]
    choices: list[dict[str, Any]]
    warnings: list[Any]
