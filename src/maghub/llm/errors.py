"""One exception type for every way an LLM call can fail, with messages a user can act on.

Callers (chat, graph runs, the API layer) only need ``kind`` to decide what to show or whether to
retry later; the SDK's many exception classes stay inside :mod:`maghub.llm`.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from enum import StrEnum
from typing import Any

import httpx2

from maghub.llm.config import ModelConfig
from maghub.llm.secrets import model_redactor
from maghub.security.classifier import Kind, masked


class LLMErrorKind(StrEnum):
    CONNECTION = "connection"
    TIMEOUT = "timeout"
    RATE_LIMIT = "rate_limit"
    SERVER = "server"
    AUTH = "auth"
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"
    PROTOCOL = "protocol"


# Kinds worth another attempt: the same request may well succeed a moment later.
RETRYABLE_KINDS = frozenset(
    {LLMErrorKind.CONNECTION, LLMErrorKind.TIMEOUT, LLMErrorKind.RATE_LIMIT, LLMErrorKind.SERVER}
)

_ADVICE = {
    LLMErrorKind.CONNECTION: "check that base_url is right and that the server is running and reachable",
    LLMErrorKind.TIMEOUT: "the server is slow or stuck; check it, or raise the model's timeout",
    LLMErrorKind.RATE_LIMIT: "the provider is rate limiting this key; wait, or lower the request rate",
    LLMErrorKind.SERVER: "the provider failed; try again later or check its status",
    LLMErrorKind.AUTH: "check the model's api_key (and that it may use this model)",
    LLMErrorKind.BAD_REQUEST: "the provider refused the request; check the model parameters and the messages",
    LLMErrorKind.NOT_FOUND: "check the model id and that base_url ends with the API prefix (often /v1)",
    LLMErrorKind.PROTOCOL: "the server's reply is not valid OpenAI-compatible output; check base_url",
}


# How a failure without an HTTP status is named in messages.
_WHAT = {
    LLMErrorKind.CONNECTION: "cannot connect",
    LLMErrorKind.TIMEOUT: "timed out",
    LLMErrorKind.SERVER: "the provider reported an error",
    LLMErrorKind.PROTOCOL: "invalid response",
}


class LLMError(Exception):
    """A failed LLM call. ``str(error)`` names the model and says what to check; it never
    contains the API key."""

    def __init__(
        self,
        kind: LLMErrorKind,
        message: str,
        *,
        model_name: str = "",
        status_code: int | None = None,
        retry_after: float | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.model_name = model_name
        self.status_code = status_code
        self.retry_after = retry_after
        self.detail = detail  # what the provider or the transport said, already redacted

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS

    def __repr__(self) -> str:
        return f"LLMError(kind={self.kind.value!r}, status_code={self.status_code!r}, message={self.message!r})"


def classify(exc: BaseException, config: ModelConfig) -> LLMError:
    """Turn an SDK or transport exception into an :class:`LLMError` for ``config``'s model."""
    import openai  # only once a call failed: the SDK is heavy to import and the server starts without it

    status: int | None = None
    retry_after: float | None = None
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        kind = LLMErrorKind.TIMEOUT
    elif isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        kind = LLMErrorKind.CONNECTION
    elif isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        kind = _kind_for_status(status)
        retry_after = parse_retry_after(exc.response.headers)
    elif isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError):
        kind = LLMErrorKind.PROTOCOL
    elif isinstance(exc, openai.APIError):
        # An error event inside a 200 stream (OpenRouter and others do this): the provider failed.
        kind = LLMErrorKind.SERVER
    else:
        kind = LLMErrorKind.PROTOCOL
    return make_error(kind, config, _detail(exc), status_code=status, retry_after=retry_after)


def make_error(
    kind: LLMErrorKind,
    config: ModelConfig,
    detail: str = "",
    *,
    status_code: int | None = None,
    retry_after: float | None = None,
) -> LLMError:
    """An error whose message names the model, says what happened and what to check."""
    detail = redact(detail, config)
    what = f"HTTP {status_code}" if status_code is not None else _WHAT[kind]
    message = (
        f"Model '{config.name}' ({config.model} at {masked(Kind.URL, config.base_url)}): {what}"
        f"{': ' + detail if detail else ''} — {_ADVICE[kind]}."
    )
    return LLMError(
        kind, message, model_name=config.name, status_code=status_code, retry_after=retry_after, detail=detail
    )


def _kind_for_status(status: int) -> LLMErrorKind:
    if status in (401, 403):
        return LLMErrorKind.AUTH
    if status == 404:
        return LLMErrorKind.NOT_FOUND
    if status == 408:
        return LLMErrorKind.TIMEOUT
    if status == 429:
        return LLMErrorKind.RATE_LIMIT
    if status >= 500:
        return LLMErrorKind.SERVER
    return LLMErrorKind.BAD_REQUEST


def _detail(exc: BaseException) -> str:
    import openai

    if isinstance(exc, openai.APIError):
        body: Any = exc.body
        if isinstance(body, dict):
            error = body.get("error", body)
            message = error.get("message") if isinstance(error, dict) else error
            if isinstance(message, str) and message:
                return message[:500]
        if isinstance(exc, openai.APIConnectionError):
            # The SDK's own text ("Connection error.") adds nothing to the kind; the cause does.
            cause = exc.__cause__
            return str(cause)[:300] if cause is not None else ""
        return exc.message[:500]
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def redact(text: str, config: ModelConfig) -> str:
    """Remove the model's secrets from ``text``: providers sometimes echo the key they were sent, and
    transport errors the URL."""
    return model_redactor(config)(text)


def parse_retry_after(headers: httpx2.Headers) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` / ``retry-after`` (seconds or HTTP date)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            parsed = email.utils.parsedate_tz(value) if name == "retry-after" else None
            if parsed is None:
                continue
            seconds = email.utils.mktime_tz(parsed) - time.time()
        if math.isfinite(seconds):
            return max(seconds, 0.0)
    return None
