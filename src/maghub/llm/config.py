"""The configuration of one LLM endpoint (a "model" in the MAG API).

Field names and ranges follow the original MAG's ``ModelConfig`` so that its web client and
exported graphs keep working; unknown extra fields are accepted and stored as sent.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from maghub.llm.slots import MAX_MODEL_CONCURRENCY

MAX_NAME_LENGTH = 200

# Names may look like provider ids ("deepseek/deepseek-chat", "qwen2.5:7b"), so "/", ":" and "."
# are allowed; what is refused is whatever would make a name ambiguous in a URL or a file path.
_NAME_CHARS = re.compile(r"^[\w.:/@+\- ]+$")

# The OpenAI request parameters a model may carry, in the order they are sent.
FLOAT_PARAMS = ("temperature", "top_p", "frequency_penalty", "presence_penalty")
INT_PARAMS = ("max_tokens", "max_completion_tokens", "n", "seed", "top_logprobs")
RAW_PARAMS = ("stop", "logprobs")


def validate_model_name(name: str) -> str:
    """Return ``name`` if it is usable as a model name, else raise ValueError saying why."""
    if not name or not name.strip():
        raise ValueError("must not be empty")
    if name != name.strip():
        raise ValueError("must not start or end with white space")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"must be at most {MAX_NAME_LENGTH} characters")
    if not _NAME_CHARS.match(name):
        raise ValueError(
            "may contain only letters, digits, spaces and the characters . _ - : / @ + "
            "(no backslashes, control characters or quotes)"
        )
    segments = name.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise ValueError("must not start or end with '/', contain '//', or have '.' or '..' segments")
    return name


class ModelConfig(BaseModel):
    """One OpenAI-compatible endpoint plus the request parameters applied to every call."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=False)

    name: str = Field(description="Unique name used to refer to this model, e.g. 'deepseek/deepseek-chat'.")
    base_url: str = Field(description="Base URL of the OpenAI-compatible API, e.g. https://api.openai.com/v1.")
    api_key: str = Field(default="", description="API key; stored encrypted, never returned in clear.")
    model: str = Field(
        min_length=1,
        description="The provider's model id sent in each request; defaults to ``name`` (the seed never sends it).",
    )

    stream: bool = False
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    n: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    extra_body: dict[str, Any] | None = None
    extra_headers: dict[str, str] | None = None
    timeout: float | None = Field(default=None, gt=0, description="Per-call timeout in seconds.")
    max_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=MAX_MODEL_CONCURRENCY,
        strict=True,
        description="At most this many calls to the model at once from this server, chat and every graph run "
        "together (e.g. the provider's rate limit); further calls wait, reported as queued. Default: no limit.",
    )
    vision: bool = Field(
        default=False,
        description="The model reads images: images that tools return are shown to it, not only named.",
    )

    @model_validator(mode="before")
    @classmethod
    def _model_defaults_to_name(cls, data: Any) -> Any:
        # The seed's examples send only name, base_url and api_key: the name is then the provider's id.
        if isinstance(data, dict) and data.get("model") is None and isinstance(data.get("name"), str):
            return {**data, "model": data["name"]}
        return data

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return validate_model_name(value)

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL, e.g. https://api.openai.com/v1")
        return value

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank: give the provider's model id, e.g. gpt-4o-mini")
        return value.strip()

    def request_params(self) -> dict[str, Any]:
        """The non-null OpenAI parameters to send with each chat completion (reference §7.3)."""
        params: dict[str, Any] = {}
        for key in FLOAT_PARAMS:
            value = getattr(self, key)
            if value is not None:
                params[key] = float(value)
        for key in INT_PARAMS:
            value = getattr(self, key)
            if value is not None:
                params[key] = int(value)
        for key in RAW_PARAMS:
            value = getattr(self, key)
            if value is not None:
                params[key] = value
        if self.extra_body:
            params["extra_body"] = self.extra_body
        if self.extra_headers:
            params["extra_headers"] = self.extra_headers
        return params

    def extra_fields(self) -> dict[str, Any]:
        """Fields the client sent beyond the known ones; kept as sent."""
        return dict(self.model_extra or {})
