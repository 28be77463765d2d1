"""Reading maghub's SSE streams the way the original web client does: ``data: `` lines, JSON
payloads, ``[DONE]`` at the end."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx2

DONE = "[DONE]"


async def iter_events(response: httpx2.Response) -> AsyncIterator[dict[str, Any] | str]:
    """Each ``data:`` payload, parsed; ``[DONE]`` as the string."""
    async for line in response.aiter_lines():
        if not line.startswith("data: "):
            continue
        data = line[len("data: ") :]
        yield DONE if data == DONE else json.loads(data)


@dataclass
class StreamTranscript:
    """A finished stream, sorted the way a client renders it."""

    events: list[dict[str, Any] | str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return bool(self.events) and self.events[-1] == DONE

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [event for event in self.events if isinstance(event, dict)]

    @property
    def chunks(self) -> list[dict[str, Any]]:
        return [event for event in self.payloads if event.get("object") == "chat.completion.chunk"]

    @property
    def text(self) -> str:
        return "".join(
            choice["delta"].get("content") or ""
            for chunk in self.chunks
            for choice in chunk.get("choices") or []
            if choice.get("delta")
        )

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        return [event for event in self.payloads if event.get("role") == "tool"]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [event["error"] for event in self.payloads if "error" in event]

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [event for event in self.payloads if event.get("type") == event_type]


async def read_stream(response: httpx2.Response) -> StreamTranscript:
    transcript = StreamTranscript()
    async for event in iter_events(response):
        transcript.events.append(event)
    return transcript


async def post_stream(client: httpx2.AsyncClient, path: str, body: dict[str, Any]) -> StreamTranscript:
    """POST ``body`` and read the whole SSE answer (which must be a 200 event stream)."""
    async with client.stream("POST", path, json=body) as response:
        if response.status_code != 200:
            await response.aread()
            raise AssertionError(f"{path} answered {response.status_code}: {response.text}")
        assert response.headers["content-type"].startswith("text/event-stream")
        return await read_stream(response)
