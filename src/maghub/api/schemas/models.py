from __future__ import annotations

from typing import Literal

from maghub.api.schemas import Open
from maghub.llm.config import ModelConfig


class ModelView(ModelConfig):
    """A model's configuration with its API key masked."""


class ModelDetail(Open):
    status: Literal["success"]
    data: ModelView
