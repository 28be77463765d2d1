"""Server-sent events as the original MAG frames them: ``data: <json>\\n\\n`` lines, no ``event:``
or ``id:`` fields, ending with ``data: [DONE]`` (reference §6).

While nothing else is sent, a ``: keep-alive`` comment line goes out every ``keep_alive_seconds``
(SPEC §13): a long tool call must not leave a proxy's idle timeout, or a client's read timeout, to
cut the stream. SSE clients ignore comment lines."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import aclosing
from typing import Any, TypeVar

import anyio
from fastapi.responses import StreamingResponse
from starlette.types import Message, Send

from maghub.agent.events import ToolCallProgress
from maghub.errors import MaghubError

log = logging.getLogger(__name__)

DONE = b"data: [DONE]\n\n"
KEEP_ALIVE = b": keep-alive\n\n"
DEFAULT_KEEP_ALIVE_SECONDS = 15.0
HEADERS = {"Cache-Control": "no-cache", "Connection": "keep-alive", "X-Accel-Buffering": "no"}

Event = TypeVar("Event")


def documented_stream(events: str, *, json_model: type | None = None) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route answering this SSE framing; ``events`` says which
    payloads the stream carries. ``json_model``: the route answers JSON instead when asked to."""
    framing = (
        "Server-sent events: each is one `data: <JSON>` line and a blank line (no `event:` or `id:` "
        "fields); the stream always ends with `data: [DONE]`. A failure after the stream started "
        'arrives as `{"error": {"message", "type"}}`.\n\n'
    )
    content: dict[str, Any] = {"text/event-stream": {"schema": {"type": "string"}}}
    if json_model is not None:
        content["application/json"] = {"schema": {"$ref": f"#/components/schemas/{json_model.__name__}"}}
    return {200: {"description": framing + events, "content": content}}


def encode(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def error_payload(message: str, error_type: str = "api_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type}}


def tool_progress_payload(event: ToolCallProgress, **where: Any) -> dict[str, Any]:
    """``{"type": "tool_progress", …}``: a running tool call's progress, in chat and graph streams;
    ``where`` adds e.g. the graph node's name."""
    return {"type": "tool_progress", **where, "tool_call_id": event.tool_call_id, **event.progress.payload()}


def event_stream(
    events: AsyncIterator[Event],
    to_payloads: Callable[[Event], Iterable[dict[str, Any]]],
    *,
    keep_alive_seconds: float = DEFAULT_KEEP_ALIVE_SECONDS,
) -> StreamingResponse:
    """Relay ``events`` as SSE. A failure after the stream started can no longer change the status
    code, so it becomes an error event; ``[DONE]`` always ends the stream. A keep-alive comment goes
    out whenever the stream was quiet for ``keep_alive_seconds``."""

    async def body() -> AsyncIterator[bytes]:
        try:
            async with aclosing(events) as running:  # type: ignore[type-var]
                async for event in running:
                    for payload in to_payloads(event):
                        yield encode(payload)
        except MaghubError as exc:
            yield encode(error_payload(str(exc)))
        except Exception:
            log.exception("stream failed")
            yield encode(error_payload("Internal server error; the server log has the details."))
        yield DONE

    return KeepAliveStreamingResponse(
        body(), keep_alive_seconds=keep_alive_seconds, media_type="text/event-stream", headers=HEADERS
    )


class KeepAliveStreamingResponse(StreamingResponse):
    """A streaming response that sends :data:`KEEP_ALIVE` when it was quiet for ``keep_alive_seconds``.

    The body iterator stays in the response's own task (agent loops hold cancel scopes across their
    yields); the keep-alive runs beside it, and a lock keeps the two from sending at once."""

    def __init__(self, content: AsyncIterator[bytes], *, keep_alive_seconds: float, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.keep_alive_seconds = keep_alive_seconds

    async def stream_response(self, send: Send) -> None:
        lock = anyio.Lock()
        last_sent = anyio.current_time()
        ended = False

        async def guarded_send(message: Message) -> None:
            nonlocal last_sent, ended
            async with lock:
                if ended:
                    return
                await send(message)
                last_sent = anyio.current_time()
                ended = message["type"] == "http.response.body" and not message.get("more_body", False)

        async def keep_alive() -> None:
            while not ended:
                await anyio.sleep(max(0.0, last_sent + self.keep_alive_seconds - anyio.current_time()))
                if anyio.current_time() - last_sent >= self.keep_alive_seconds:
                    await guarded_send({"type": "http.response.body", "body": KEEP_ALIVE, "more_body": True})

        async with anyio.create_task_group() as group:
            group.start_soon(keep_alive)
            try:
                await super().stream_response(guarded_send)
            finally:
                group.cancel_scope.cancel()
