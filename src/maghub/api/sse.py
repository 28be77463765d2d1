"""Server-sent events as the original MAG frames them: ``data: <json>\\n\\n`` lines, no ``event:``
or ``id:`` fields, ending with ``data: [DONE]`` (reference §6)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import aclosing
from typing import Any, TypeVar

from fastapi.responses import StreamingResponse

from maghub.errors import MaghubError

log = logging.getLogger(__name__)

DONE = b"data: [DONE]\n\n"
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


def event_stream(
    events: AsyncIterator[Event], to_payloads: Callable[[Event], Iterable[dict[str, Any]]]
) -> StreamingResponse:
    """Relay ``events`` as SSE. A failure after the stream started can no longer change the status
    code, so it becomes an error event; ``[DONE]`` always ends the stream."""

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

    return StreamingResponse(body(), media_type="text/event-stream", headers=HEADERS)
