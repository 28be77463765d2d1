"""Chat (MAG reference "聊天API"): ``POST /chat/completions`` and the conversation routes.

Whose conversations: the ``user_id`` sent (default ``default_user``) in local mode, the token's
user in auth mode (a ``user_id`` sent then is ignored).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, field_validator

from maghub.agent import AgentFailed, LLMChunk, ToolCallProgress, ToolResult
from maghub.api.deps import RuntimeDep
from maghub.api.owners import UserIdField, UserIdQuery, owner
from maghub.api.schemas.chat import (
    ChatReply,
    Compacted,
    ConversationChange,
    ConversationDetail,
    ConversationPage,
    StatusChanged,
    TagsChanged,
    TitleChanged,
)
from maghub.api.security import TokenUser
from maghub.api.sse import documented_stream, error_payload, event_stream, tool_progress_payload
from maghub.chat.conversations import CompactType
from maghub.chat.reply import collect_reply
from maghub.chat.service import ChatEvent, ChatNotice, ChatRequest
from maghub.errors import InvalidInputError
from maghub.states import ConversationStatus

router = APIRouter(tags=["chat"])

# Far beyond any real list, and well inside what every database takes as OFFSET (a larger number
# was a 500 on SQLite and PostgreSQL alike).
MAX_OFFSET = 1_000_000_000


class ChatCompletionBody(BaseModel):
    user_prompt: str = Field(max_length=1_000_000)
    model_name: str
    system_prompt: str | None = None
    mcp_servers: list[str] | None = None
    conversation_id: str | None = Field(
        None, max_length=200, description="null: a temporary chat, nothing stored. The web client sends 24 hex."
    )
    user_id: str = UserIdField
    stream: bool = True


CHAT_EVENTS = """With `stream: true` (the default) the events are, in order of arrival:
- the model's OpenAI `chat.completion.chunk` objects as it streams (`choices[0].delta.content`,
  `delta.tool_calls`, a final `usage`);
- each tool result as the tool message `{"role": "tool", "tool_call_id", "content"}`;
- `{"type": "tool_progress", "tool_call_id", "server", "tool", "progress", "total"?, "message"?}`: a
  progress notification of a tool call still running;
- `{"type": "notice", "message"}`: something the user should know (e.g. an MCP server that is not connected);
- `{"error": {"message", "type": "model_error"}}` when the model call failed.

With `stream: false` the answer is one JSON object (`ChatReply`)."""


def chat_payloads(event: ChatEvent) -> Iterable[dict[str, Any]]:
    """What the original's web client reads (reference §13): chunks, tool results, errors."""
    if isinstance(event, LLMChunk):
        return (event.chunk,)
    if isinstance(event, ToolResult):
        return (event.message,)
    if isinstance(event, ToolCallProgress):
        return (tool_progress_payload(event),)
    if isinstance(event, AgentFailed):
        return (error_payload(event.message, "model_error"),)
    if isinstance(event, ChatNotice):
        return ({"type": "notice", "message": event.message},)
    return ()


@router.post(
    "/chat/completions",
    summary="Chat with a model and MCP tools (SSE by default)",
    response_model=ChatReply,
    responses=documented_stream(CHAT_EVENTS, json_model=ChatReply),
)
async def chat_completions(body: ChatCompletionBody, runtime: RuntimeDep, user: TokenUser) -> Any:
    request = ChatRequest(
        user_prompt=body.user_prompt,
        model_name=body.model_name,
        system_prompt=body.system_prompt,
        mcp_servers=body.mcp_servers or [],
        conversation_id=body.conversation_id,
        user_id=owner(runtime, user, body.user_id),
    )
    turn = await runtime.chat.start(request)
    if body.stream:
        return event_stream(turn.events(), chat_payloads, keep_alive_seconds=runtime.settings.sse_keepalive_seconds)
    return (await collect_reply(turn)).to_json()


@router.get(
    "/chat/conversations",
    summary="List the user's conversations, most recently updated first",
    response_model=ConversationPage,
)
async def list_conversations(
    runtime: RuntimeDep,
    user: TokenUser,
    user_id: str = UserIdQuery,
    status: Annotated[
        list[ConversationStatus] | None, Query(description="Only these statuses (repeat the parameter); default all")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Skip this many (at most 10⁹)")] = 0,
) -> dict[str, Any]:
    page = await runtime.conversations.list(owner(runtime, user, user_id), statuses=status, limit=limit, offset=offset)
    return {"conversations": page.items, "total_count": page.total, "limit": limit, "offset": offset}


@router.get(
    "/chat/conversations/{conversation_id}",
    summary="A conversation with all its rounds",
    response_model=ConversationDetail,
)
async def get_conversation(
    conversation_id: str, runtime: RuntimeDep, user: TokenUser, user_id: str = UserIdQuery
) -> dict[str, Any]:
    return await runtime.conversations.detail(conversation_id, owner(runtime, user, user_id))


class StatusBody(BaseModel):
    status: ConversationStatus
    user_id: str = UserIdField


_STATUS_MESSAGES = {
    ConversationStatus.ACTIVE: "对话已恢复",
    ConversationStatus.DELETED: "对话已删除",
    ConversationStatus.FAVORITE: "对话已收藏",
}


@router.put(
    "/chat/conversations/{conversation_id}/status",
    summary="Set active, favorite or deleted (trash)",
    response_model=StatusChanged,
)
async def set_status(conversation_id: str, body: StatusBody, runtime: RuntimeDep, user: TokenUser) -> dict[str, Any]:
    await runtime.conversations.set_status(conversation_id, owner(runtime, user, body.user_id), body.status)
    return {
        "status": "success",
        "message": _STATUS_MESSAGES[body.status],
        "conversation_id": conversation_id,
        "new_status": body.status,
    }


class TitleBody(BaseModel):
    title: str = Field(max_length=100)
    user_id: str = UserIdField


@router.put("/chat/conversations/{conversation_id}/title", summary="Rename a conversation", response_model=TitleChanged)
async def set_title(conversation_id: str, body: TitleBody, runtime: RuntimeDep, user: TokenUser) -> dict[str, Any]:
    title = await runtime.conversations.set_title(conversation_id, owner(runtime, user, body.user_id), body.title)
    return {"status": "success", "message": "对话标题更新成功", "conversation_id": conversation_id, "title": title}


class TagsBody(BaseModel):
    tags: list[Annotated[str, Field(max_length=20, pattern=r"\S")]] = Field(max_length=10)
    user_id: str = UserIdField

    @field_validator("tags")
    @classmethod
    def _no_blank_tags(cls, tags: list[str]) -> list[str]:
        stripped = [tag.strip() for tag in tags]
        if any(not tag for tag in stripped):
            raise ValueError("tags must not be blank")
        return list(dict.fromkeys(stripped))


@router.put(
    "/chat/conversations/{conversation_id}/tags",
    summary="Replace a conversation's tags",
    response_model=TagsChanged,
)
async def set_tags(conversation_id: str, body: TagsBody, runtime: RuntimeDep, user: TokenUser) -> dict[str, Any]:
    tags = await runtime.conversations.set_tags(conversation_id, owner(runtime, user, body.user_id), body.tags)
    return {"status": "success", "message": "对话标签更新成功", "conversation_id": conversation_id, "tags": tags}


@router.delete(
    "/chat/conversations/{conversation_id}/permanent",
    summary="Delete a conversation, its messages and files",
    response_model=ConversationChange,
)
async def delete_permanently(
    conversation_id: str, runtime: RuntimeDep, user: TokenUser, user_id: str = UserIdQuery
) -> dict[str, Any]:
    await runtime.conversations.delete_permanently(conversation_id, owner(runtime, user, user_id))
    return {"status": "success", "message": f"对话 '{conversation_id}' 已永久删除", "conversation_id": conversation_id}


class CompactBody(BaseModel):
    conversation_id: str
    model_name: str | None = Field(None, description="Required for precise (it writes the summaries).")
    compact_type: CompactType = "brutal"
    compact_threshold: int = Field(2000, ge=100, le=10000, description="precise: tool results this long (chars)")
    user_id: str = UserIdField


@router.post(
    "/chat/conversations/{conversation_id}/compact",
    summary="Shorten a chat's stored history",
    response_model=Compacted,
)
async def compact(conversation_id: str, body: CompactBody, runtime: RuntimeDep, user: TokenUser) -> dict[str, Any]:
    if body.conversation_id != conversation_id:
        raise InvalidInputError(
            f"conversation_id in the body ({body.conversation_id!r}) differs from the one in the path "
            f"({conversation_id!r}); send the same id in both."
        )
    result = await runtime.conversations.compact(
        conversation_id, owner(runtime, user, body.user_id), body.compact_type, body.model_name, body.compact_threshold
    )
    statistics = result.statistics
    message = "对话压缩成功" if result.changed else "对话无需压缩：没有可压缩的内容"
    return {
        "status": "success",
        "message": f"{message}，压缩比: {statistics['reduction_rate']}",
        "conversation_id": conversation_id,
        "compact_type": body.compact_type,
        "changed": result.changed,
        "statistics": statistics,
        "error": None,
    }
