"""MCP sampling requests served by maghub's configured models (SPEC §13 Client side)."""

from __future__ import annotations

from typing import Any

from maghub.llm.registry import ModelRegistry
from maghub.usage import Usage


class ModelSampler:
    """A :class:`maghub.mcp.sampling.Sampler` over the model registry."""

    def __init__(self, models: ModelRegistry) -> None:
        self._models = models

    async def sample(
        self, model_name: str, messages: list[dict[str, Any]], overrides: dict[str, Any]
    ) -> tuple[str, Usage | None]:
        client = await self._models.client(model_name)
        result = await client.complete(messages, **overrides)
        return result.text, result.usage
