"""Reading a chat-completions event stream straight from the HTTP response.

The SDK's own stream turns every chunk into pydantic models (about 150 µs per chunk here, most
of a stream's client-side cost) and maghub would only turn them back into dicts for relaying;
parsing the SSE lines ourselves keeps each chunk as the dict the provider sent.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import cast

import anyio
import httpx2

DONE = "[DONE]"
# After [DONE] only the end of the body should follow; reading it lets the connection be reused,
# but a server that keeps the stream open must not hold us for long.
_DRAIN_SECONDS = 0.1


async def iter_sse_data(response: httpx2.Response) -> AsyncGenerator[str, None]:
    """The ``data`` of each server-sent event, up to (not including) ``[DONE]``.

    Event names, ids and comments are skipped: chat-completion streams carry everything in data.
    """
    # aiter_lines() is an async generator, typed only as an iterator.
    async with aclosing(cast(AsyncGenerator[str, None], response.aiter_lines())) as lines:
        data: list[str] = []
        async for line in lines:
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif not line and data:
                payload = "\n".join(data)
                data = []
                if payload == DONE:
                    break
                yield payload
        else:
            if data and (payload := "\n".join(data)) != DONE:  # a last event without its blank line
                yield payload
            return
        with anyio.move_on_after(_DRAIN_SECONDS):
            async for _ in lines:
                pass
