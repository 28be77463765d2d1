"""maghub's client for OpenAI-compatible chat-completion endpoints.

Everything that talks to a model goes through :class:`LLMClient`: it applies the model's
parameters, always streams with usage reporting, retries what is safe to retry, and turns every
failure into one :class:`~maghub.llm.errors.LLMError`. :class:`LLMClientPool` keeps one client per
configured model.

Streams must be closed when abandoned; prefer::

    async with contextlib.aclosing(client.stream_chat(messages)) as events:
        async for event in events: ...

(cancelling the consuming task closes the HTTP response too).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing, asynccontextmanager
from typing import Any, Self

import anyio
import anyio.to_thread
import httpx2
import openai

from maghub.llm.assembler import StreamAssembler
from maghub.llm.config import ModelConfig
from maghub.llm.errors import LLMErrorKind, classify, make_error
from maghub.llm.http.network import new_http_client
from maghub.llm.http.retry import RetryPolicy
from maghub.llm.secrets import model_secret_texts
from maghub.llm.slots import ModelSlots
from maghub.llm.http.sse import iter_sse_data
from maghub.llm.types import ChunkEvent, CompletionResult, FinalEvent, QueuedEvent, StreamEvent
from maghub.security.redaction import log_redactor
from maghub.usage import Usage

__all__ = ["LLMClient", "strip_think"]

# The SDK refuses to start without a key, but local servers (Ollama, vLLM, llama.cpp) need none.
PLACEHOLDER_API_KEY = "not-needed"
# A dead host should fail within seconds even when the read timeout is minutes long.
MAX_CONNECT_TIMEOUT = 15.0
_MERGED_PARAMS = ("extra_body", "extra_headers")
# What a call can raise: the SDK's errors, and, while we read a stream ourselves, malformed JSON
# and raw transport failures.
_CALL_ERRORS = (openai.OpenAIError, json.JSONDecodeError, httpx2.HTTPError)


class LLMClient:
    """Calls one configured model.

    ``http_client`` lets several clients share one connection pool (and one TLS context, whose
    creation blocks for ~25 ms); a client never closes an ``http_client`` it was given.
    """

    def __init__(
        self,
        config: ModelConfig,
        *,
        default_timeout: float = 120.0,
        max_retries: int = 2,
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 8.0,
        max_retry_after: float = 20.0,
        http_client: httpx2.AsyncClient | None = None,
        slots: ModelSlots | None = None,
    ) -> None:
        self.config = config
        # Shared with every client of the same model name (see LLMClientPool): a changed config
        # builds a new client, and calls on the old one still count.
        self.slots = slots or ModelSlots(config.max_concurrency)
        log_redactor.add(model_secret_texts(config))  # the SDK and httpx2 may log its URL and headers
        self.retry = RetryPolicy(max_retries, retry_base_delay, retry_max_delay, max_retry_after)
        total = config.timeout or default_timeout
        # For streams httpx2's read timeout bounds each wait for data, not the whole reply.
        self.timeout = httpx2.Timeout(total, connect=min(total, MAX_CONNECT_TIMEOUT))
        self._params = config.request_params()
        self._owns_http_client = http_client is None
        self._http = http_client or new_http_client()
        self._sdk = openai.AsyncOpenAI(
            api_key=config.api_key or PLACEHOLDER_API_KEY,
            base_url=config.base_url,
            max_retries=0,  # retried here, where we know whether a token was already streamed
            timeout=self.timeout,
            http_client=self._http,
        )
        self._stream_url = str(self._sdk.base_url).rstrip("/") + "/chat/completions"
        self._stream_headers = {
            "Authorization": f"Bearer {config.api_key or PLACEHOLDER_API_KEY}",
            **(config.extra_headers or {}),
        }

    async def stream_chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: Any = None,
        **overrides: Any,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Stream one chat completion: a :class:`ChunkEvent` per raw chunk, then a :class:`FinalEvent`.

        Failures before the first token are retried (chunks of a failed attempt are never
        yielded); after it they raise :class:`LLMError`, as does a failure with no retries left.
        ``overrides`` are request parameters that take precedence over the model's.
        When the model's ``max_concurrency`` slots are all taken, a :class:`QueuedEvent` comes first
        and the call waits for one (held until the stream ends).
        """
        request = self._request(messages, tools, tool_choice, overrides, stream=True)
        holder = object()
        if not self.slots.try_take(holder):
            yield QueuedEvent(self.config.name, self.slots.limit or 0)
            await self.slots.take(holder)
        try:
            retries = 0
            while True:
                assembler = StreamAssembler()
                held: list[ChunkEvent] = []  # chunks before the first token: dropped if the attempt fails
                try:
                    # The raw response, not the SDK's AsyncStream: see maghub.llm.http.sse for why.
                    async with self._open_stream(request) as response, aclosing(_iter_chunks(response)) as chunks:
                        async for chunk in chunks:
                            event = assembler.add(chunk)
                            if not assembler.started:
                                held.append(event)
                                continue
                            if held:
                                for early in held:
                                    yield early
                                held.clear()
                            yield event
                except _CALL_ERRORS as exc:
                    error = classify(exc, self.config)
                    delay = None if assembler.started else self.retry.delay(retries, error)
                    if delay is None:
                        raise error from exc
                    retries += 1
                    await anyio.sleep(delay)
                    continue
                for early in held:  # a reply without any token, e.g. an empty answer
                    yield early
                yield FinalEvent(assembler.message(), assembler.finish_reason, assembler.usage, attempts=retries + 1)
                return
        finally:
            self.slots.give_back(holder)

    async def complete(self, messages: Sequence[Mapping[str, Any]], **overrides: Any) -> CompletionResult:
        """One short internal call (title, summary): the reply's text with any ``<think>`` part removed.

        Streams or not according to the model's ``stream`` flag, as some providers only serve
        one of the two.
        """
        if self.config.stream:
            final: FinalEvent | None = None
            async with aclosing(self.stream_chat(messages, **overrides)) as events:
                async for event in events:
                    if isinstance(event, FinalEvent):
                        final = event
            assert final is not None  # stream_chat always ends with one, or raises
            return CompletionResult(strip_think(final.message.content), final.usage, final.finish_reason)

        request = self._request(messages, None, None, overrides, stream=False)
        holder = object()
        await self.slots.take(holder)
        try:
            return await self._complete_attempts(request)
        finally:
            self.slots.give_back(holder)

    async def _complete_attempts(self, request: dict[str, Any]) -> CompletionResult:
        retries = 0
        while True:
            try:
                async with self._open_stream(request) as response:
                    reply = json.loads(await response.aread())
                break
            except _CALL_ERRORS as exc:
                error = classify(exc, self.config)
                delay = self.retry.delay(retries, error)
                if delay is None:
                    raise error from exc
                retries += 1
                await anyio.sleep(delay)
        choices = reply.get("choices") if isinstance(reply, dict) else None
        if not choices or not isinstance(choices[0], dict):
            raise make_error(LLMErrorKind.PROTOCOL, self.config, "the reply has no choices")
        choice = choices[0]
        usage = Usage.from_dict(reply["usage"]) if isinstance(reply.get("usage"), dict) else None
        content = (choice.get("message") or {}).get("content") or ""
        return CompletionResult(strip_think(content), usage, choice.get("finish_reason"))

    @asynccontextmanager
    async def _open_stream(self, request: dict[str, Any]) -> AsyncIterator[httpx2.Response]:
        """POST a request (streaming or not) straight through the HTTP client: the SDK's request
        building (parameter transforms, validation) costs more CPU than the rest of relaying a reply,
        on every call. Error replies raise the SDK's status errors, so they are classified alike."""
        body = {key: value for key, value in request.items() if key not in _MERGED_PARAMS}
        body.update(request.get("extra_body") or {})
        accept = "text/event-stream" if request.get("stream") else "application/json"
        headers = {"Accept": accept, **self._stream_headers, **(request.get("extra_headers") or {})}
        http_request = self._http.build_request(
            "POST", self._stream_url, json=body, headers=headers, timeout=self.timeout
        )
        response = await self._http.send(http_request, stream=True)
        try:
            if response.status_code >= 400:
                await response.aread()
                try:
                    error_body: Any = response.json()
                except ValueError:
                    error_body = response.text
                error = error_body.get("error", error_body) if isinstance(error_body, dict) else error_body
                message = error.get("message") if isinstance(error, dict) else error
                raise openai.APIStatusError(str(message or response.reason_phrase), response=response, body=error_body)
            yield response
        finally:
            await response.aclose()

    def _request(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None,
        tool_choice: Any,
        overrides: dict[str, Any],
        *,
        stream: bool,
    ) -> dict[str, Any]:
        request = {**self._params, **overrides}
        for key in _MERGED_PARAMS:  # per-call extras add to the model's instead of replacing them
            if key in overrides and key in self._params and overrides[key] is not None:
                request[key] = {**self._params[key], **overrides[key]}
        request["model"] = self.config.model
        request["messages"] = messages
        if tools:
            request["tools"] = tools
        if tool_choice is not None:
            request["tool_choice"] = tool_choice
        if stream:
            request["stream"] = True
            # Usage only comes in a final chunk without choices, and only when asked for.
            request["stream_options"] = {"include_usage": True}
        return request

    async def aclose(self) -> None:
        if self._owns_http_client:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def _iter_chunks(response: httpx2.Response) -> AsyncGenerator[dict[str, Any], None]:
    """The chunk dicts of a chat-completions stream, as sent; error replies raise SDK errors."""
    if response.headers.get("content-type", "").startswith("application/json"):
        # Not a stream: an error reported with status 200, or a server that ignored stream=True.
        body = json.loads(await response.aread())
        if isinstance(body, dict) and body.get("error"):
            raise _provider_error(response, body["error"])
        raise openai.APIResponseValidationError(
            response, body, message="the server answered a streaming request with one JSON reply"
        )
    async with aclosing(iter_sse_data(response)) as events:
        async for data in events:
            chunk = json.loads(data)
            if not isinstance(chunk, dict):
                raise openai.APIResponseValidationError(response, chunk, message="a stream event is not a JSON object")
            if chunk.get("error"):  # an error event inside a 200 stream (OpenRouter, vLLM, LiteLLM do this)
                raise _provider_error(response, chunk["error"])
            yield chunk


def _provider_error(response: httpx2.Response, error: Any) -> openai.APIError:
    message = error.get("message") if isinstance(error, dict) else error
    return openai.APIError(str(message or "the provider reported an error"), response.request, body={"error": error})


def strip_think(text: str) -> str:
    """Drop everything up to the first ``</think>``: reasoning models put their thoughts inline."""
    _, marker, answer = text.partition("</think>")
    return answer.strip() if marker else text.strip()
