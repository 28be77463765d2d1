"""A scripted OpenAI-compatible chat-completions server, over real HTTP and SSE.

It lets the test suite, the benchmarks and ``maghub serve --demo`` talk to "a model" without a
network or a GPU, through the same wire protocol a real provider uses, so that the code under test
(the openai SDK, our client, SSE relaying) is exercised end to end. Replies are scripted with
:class:`Rule` objects matched against each request body; every request is logged together with how
it ended, which is what lets tests prove that cancelling a client really closes the HTTP stream.

Typical use::

    async with ScriptedLLM() as llm:                     # uvicorn on 127.0.0.1:<ephemeral>
        llm.script(Reply(content="Hi there"), last_user_contains="hello", times=1)
        client = AsyncOpenAI(base_url=llm.base_url, api_key="x")
        ...
        await llm.wait_for(lambda reqs: reqs and reqs[-1].disconnected, timeout=1)

or mount ``ScriptedLLM().app`` under a prefix of another Starlette/FastAPI app (its routes are
relative, so the base URL becomes ``<prefix>/v1``), or run it as a process::

    python -m maghub.testing.scripted_llm --host 127.0.0.1 --port 8900 --latency 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Self

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

__all__ = [
    "RecordedRequest",
    "Reply",
    "Rule",
    "ScriptedLLM",
    "last_user_text",
    "message_text",
    "serve_app",
]

Body = dict[str, Any]
Outcome = Literal["in_progress", "completed", "disconnected", "dropped", "error"]

DEFAULT_MODEL = "scripted-model"

# "Tokens" are words with their leading white space, like most BPE vocabularies; joining them gives
# the text back exactly, and counting them gives deterministic usage figures.
_TOKEN = re.compile(r"\s*\S+")
_WORD = re.compile(r"\S+")

_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("not_found_error", "model_not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_DONE = b"data: [DONE]\n\n"


# --------------------------------------------------------------------------------------------------
# Scripting


@dataclass
class Reply:
    """What the server answers to one request.

    ``tool_calls`` items are ``{"name": str, "arguments": dict | str, "id": str (optional)}``.
    ``first_token_delay`` (None: the server's ``latency``) is spent after the response headers and
    before the first chunk, as a real provider does while it reads the prompt. ``chunk_size`` is in
    tokens (words). A ``status`` >= 400 turns the reply into an OpenAI-style error response;
    ``fail_after_chunks`` cuts the connection after that many SSE events, without ``[DONE]``;
    ``error_event_after`` instead sends, after that many events, an error event inside the 200
    stream (``data: {"error": ...}``, as OpenRouter and vLLM do) and ends the stream.
    """

    content: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, int] | None = None
    first_token_delay: float | None = None
    chunk_delay: float = 0.0
    chunk_size: int = 1
    status: int = 200
    error_message: str | None = None
    error_type: str | None = None
    error_code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    fail_after_chunks: int | None = None
    error_event_after: int | None = None

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        if self.chunk_delay < 0 or (self.first_token_delay or 0) < 0:
            raise ValueError("delays must not be negative")
        if not (self.status == 200 or 400 <= self.status <= 599):
            raise ValueError("status must be 200 or an error status (400-599)")
        if (self.fail_after_chunks or 0) < 0 or (self.error_event_after or 0) < 0:
            raise ValueError("fail_after_chunks and error_event_after must not be negative")
        for call in self.tool_calls:
            if not isinstance(call, dict) or not isinstance(call.get("name"), str) or not call["name"]:
                raise ValueError("each tool call needs a non-empty 'name'")
            if not isinstance(call.get("arguments", {}), dict | str):
                raise TypeError("tool call 'arguments' must be an object or a JSON string")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        """Build a reply from JSON (the admin endpoint), refusing unknown keys so typos show.

        Raises ValueError or TypeError (e.g. ``chunk_size: "x"``) for invalid input.
        """
        _check_keys(data, _REPLY_FIELDS, "reply")
        return cls(**data)


ReplySource = Reply | str | Callable[[Body], Reply | str]
"""A rule's reply: fixed, plain text, or computed from the request body."""

_REPLY_FIELDS = frozenset(f.name for f in fields(Reply))
_MATCH_FIELDS = frozenset({"last_user_contains", "model", "has_tools", "last_is_tool_result"})


@dataclass
class Rule:
    """A reply given to requests matching every condition that is set (all unset: any request).

    ``reply`` may be a callable of the request body, for replies that depend on the request.
    After ``times`` uses the rule is exhausted and no longer matches.
    """

    reply: ReplySource
    when: Callable[[Body], bool] | None = None
    last_user_contains: str | None = None
    model: str | None = None
    has_tools: bool | None = None
    last_is_tool_result: bool | None = None
    times: int | None = None
    used: int = field(default=0, init=False)
    id: int = field(default=0, init=False)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.used >= self.times

    def matches(self, body: Body) -> bool:
        messages = body.get("messages") or []
        if self.model is not None and body.get("model") != self.model:
            return False
        if self.has_tools is not None and bool(body.get("tools")) != self.has_tools:
            return False
        if self.last_is_tool_result is not None:
            last_is_tool = bool(messages) and isinstance(messages[-1], dict) and messages[-1].get("role") == "tool"
            if last_is_tool != self.last_is_tool_result:
                return False
        if self.last_user_contains is not None and self.last_user_contains not in last_user_text(body):
            return False
        return self.when is None or bool(self.when(body))

    def resolve(self, body: Body) -> Reply:
        reply = self.reply(body) if callable(self.reply) else self.reply
        return Reply(content=reply) if isinstance(reply, str) else reply

    def describe(self) -> dict[str, Any]:
        """A JSON view for ``GET /_scripted/rules``; callables are shown by name only."""
        match: dict[str, Any] = {k: getattr(self, k) for k in sorted(_MATCH_FIELDS) if getattr(self, k) is not None}
        if self.when is not None:
            match["when"] = getattr(self.when, "__name__", "<callable>")
        reply: Any
        if isinstance(self.reply, Reply):
            reply = asdict(self.reply)
        elif isinstance(self.reply, str):
            reply = asdict(Reply(content=self.reply))
        else:
            reply = getattr(self.reply, "__name__", "<callable>")
        return {"id": self.id, "match": match, "reply": reply, "times": self.times, "used": self.used}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        """Parse the admin endpoint's JSON: match fields, ``times``, and reply fields either flat
        or under ``"reply"``."""
        if not isinstance(data, dict):
            raise TypeError("a rule must be a JSON object")
        data = dict(data)
        times = data.pop("times", None)
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
            raise ValueError("'times' must be a positive integer")
        match = {key: data.pop(key) for key in list(data) if key in _MATCH_FIELDS}
        if "reply" in data:
            reply_data = data.pop("reply")
            if data:
                raise ValueError(
                    f"unknown rule field(s) {sorted(data)}; allowed: {sorted(_MATCH_FIELDS | {'reply', 'times'})}"
                )
            if not isinstance(reply_data, dict):
                raise TypeError("'reply' must be an object")
        else:
            reply_data = data
        return cls(reply=Reply.from_dict(reply_data), times=times, **match)


def message_text(message: Any) -> str:
    """The text of a chat message whose content is a string or a list of content parts."""
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def last_user_text(body: Body) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message)
    return ""


def echo_reply(body: Body) -> Reply:
    """The default reply: makes unscripted conversations visibly "work" and easy to assert on."""
    return Reply(content=f"Echo: {last_user_text(body)}")


def _check_keys(data: Any, allowed: frozenset[str], what: str) -> None:
    if not isinstance(data, dict):
        raise TypeError(f"{what} must be a JSON object")
    unknown = set(data) - allowed
    if unknown:
        raise ValueError(f"unknown {what} field(s) {sorted(unknown)}; allowed: {sorted(allowed)}")


# --------------------------------------------------------------------------------------------------
# Request log


@dataclass
class RecordedRequest:
    """One chat-completions request and how it ended.

    ``outcome``: ``completed`` (everything incl. ``[DONE]`` was sent), ``disconnected`` (the client
    went away first), ``dropped`` (``fail_after_chunks`` cut it on purpose), ``error`` (an error
    status or an error event was answered). Times are ``time.time()`` so they compare across processes.
    ``peer`` is the client's ``host:port``: one peer for many requests means the connection was
    kept alive and reused.
    """

    id: int
    body: Body
    headers: dict[str, str]
    received_at: float
    peer: str = ""
    outcome: Outcome = "in_progress"
    finished_at: float | None = None
    reply: Reply | None = None

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def completed(self) -> bool:
        return self.outcome == "completed"

    @property
    def disconnected(self) -> bool:
        return self.outcome == "disconnected"

    @property
    def finished(self) -> bool:
        return self.outcome != "in_progress"

    def finish(self, outcome: Outcome) -> None:
        # First writer wins: once a stream is complete, the client closing its socket is normal.
        if self.outcome == "in_progress":
            self.outcome = outcome
            self.finished_at = time.time()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "body": self.body,
            "headers": _redact_headers(self.headers),
            "received_at": self.received_at,
            "peer": self.peer,
            "outcome": self.outcome,
            "finished_at": self.finished_at,
        }


def _redact_headers(headers: dict[str, str]) -> dict[str, str]:
    # The admin endpoint may be reachable from a browser (demo mode): never hand API keys out.
    secret = ("authorization", "api-key", "x-api-key", "proxy-authorization")
    return {k: ("***" if k in secret else v) for k, v in headers.items()}


# --------------------------------------------------------------------------------------------------
# Building replies


def _tokens(text: str) -> list[str]:
    tokens = _TOKEN.findall(text)
    tail = len(text) - sum(map(len, tokens))
    if tail:  # trailing white space, kept so the chunks join back to the exact text
        tokens.append(text[-tail:])
    return tokens


def _chunks(text: str, size: int) -> list[str]:
    tokens = _tokens(text)
    if size == 1:
        return tokens
    return ["".join(tokens[i : i + size]) for i in range(0, len(tokens), size)]


def _prompt_tokens(body: Body) -> int:
    count = 0
    for message in body.get("messages") or []:
        count += len(_WORD.findall(message_text(message)))
        for call in (message.get("tool_calls") or []) if isinstance(message, dict) else []:
            arguments = (call.get("function") or {}).get("arguments") if isinstance(call, dict) else None
            if isinstance(arguments, str):
                count += len(_WORD.findall(arguments))
    return count


@dataclass
class _PlannedCall:
    id: str
    name: str
    arguments: str


@dataclass
class _Plan:
    """A reply resolved against one request: ids, chunks and usage, shared by both wire shapes."""

    completion_id: str
    created: int
    model: str
    reply: Reply
    calls: list[_PlannedCall]
    finish_reason: str
    usage: dict[str, Any]

    @classmethod
    def make(cls, request_id: int, body: Body, reply: Reply) -> _Plan:
        calls = [
            _PlannedCall(
                id=str(call.get("id") or f"call_{request_id}_{index}"),
                name=call["name"],
                arguments=_arguments_json(call.get("arguments", {})),
            )
            for index, call in enumerate(reply.tool_calls)
        ]
        reasoning_tokens = len(_tokens(reply.reasoning))
        completion = (
            reasoning_tokens + len(_tokens(reply.content)) + sum(1 + len(_tokens(call.arguments)) for call in calls)
        )
        usage: dict[str, Any] = {"prompt_tokens": _prompt_tokens(body), "completion_tokens": completion}
        usage.update(reply.usage or {})
        usage.setdefault("total_tokens", usage["prompt_tokens"] + usage["completion_tokens"])
        if reasoning_tokens and not reply.usage:
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
        return cls(
            completion_id=f"chatcmpl-scripted-{request_id}",
            created=int(time.time()),
            model=str(body.get("model") or DEFAULT_MODEL),
            reply=reply,
            calls=calls,
            finish_reason=reply.finish_reason or ("tool_calls" if calls else "stop"),
            usage=usage,
        )

    def completion(self) -> dict[str, Any]:
        """The non-streaming ``chat.completion`` object."""
        message: dict[str, Any] = {
            "role": "assistant",
            "content": self.reply.content or (None if self.calls else ""),
        }
        if self.reply.reasoning:
            message["reasoning_content"] = self.reply.reasoning
        if self.calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.calls
            ]
        return {
            "id": self.completion_id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": self.finish_reason}],
            "usage": self.usage,
        }

    def token_deltas(self) -> list[dict[str, Any]]:
        """The streamed deltas that carry generated tokens, in order: reasoning, content, tool calls."""
        size = self.reply.chunk_size
        deltas: list[dict[str, Any]] = [{"reasoning_content": p} for p in _chunks(self.reply.reasoning, size)]
        deltas += [{"content": p} for p in _chunks(self.reply.content, size)]
        for index, call in enumerate(self.calls):
            header = {
                "index": index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            deltas.append({"tool_calls": [header]})
            deltas += [
                {"tool_calls": [{"index": index, "function": {"arguments": p}}]} for p in _chunks(call.arguments, size)
            ]
        return deltas

    def sse_events(self, include_usage: bool) -> list[bytes]:
        """Every SSE event of the streamed reply, ``[DONE]`` included, ready to write."""
        head = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
        }
        if include_usage:
            head["usage"] = None  # as OpenAI does: null on every chunk but the last

        def event(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            chunk = {
                **head,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }
            return b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n"

        events = [event({"role": "assistant", "content": ""})]
        events += [event(delta) for delta in self.token_deltas()]
        events.append(event({}, self.finish_reason))
        if include_usage:
            final = {**head, "choices": [], "usage": self.usage}
            events.append(b"data: " + json.dumps(final).encode() + b"\n\n")
        events.append(_DONE)
        return events


def _arguments_json(arguments: dict[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


def _error_body(status: int, message: str | None, type_: str | None = None, code: str | None = None) -> dict[str, Any]:
    default_type, default_code = _ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return {
        "error": {
            "message": message or f"scripted error {status}",
            "type": type_ or default_type,
            "param": None,
            "code": code or default_code,
        }
    }


# --------------------------------------------------------------------------------------------------
# The chat-completions response (raw ASGI, to watch for disconnects while streaming)


class _ChatResponse(Response):
    """Answers one chat-completions request while watching the client for a disconnect.

    Starlette's StreamingResponse watches ``receive()`` only under ASGI spec < 2.4; under 2.4
    servers it waits for a write to fail, which never happens during ``first_token_delay``. A
    side task waiting for ``http.disconnect`` records a client that goes away at once, under any
    server, and abandons the reply.
    """

    def __init__(self, record: RecordedRequest, plan: _Plan, delay: float, stream: bool, include_usage: bool) -> None:
        # Response.__init__ is skipped on purpose: this object only needs to be an ASGI callable.
        self.background = None
        self._record = record
        self._plan = plan
        self._delay = delay
        self._stream = stream
        self._include_usage = include_usage

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch_disconnect, receive, tg.cancel_scope)
            try:
                await self._respond(send)
            except OSError:  # ASGI >= 2.4 servers report a vanished client by failing send()
                self._record.finish("disconnected")
            finally:
                tg.cancel_scope.cancel()

    async def _watch_disconnect(self, receive: Receive, scope: anyio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self._record.finish("disconnected")
        scope.cancel()

    async def _respond(self, send: Send) -> None:
        reply = self._plan.reply
        if reply.status >= 400:
            await _sleep(self._delay)
            body = _error_body(reply.status, reply.error_message, reply.error_type, reply.error_code)
            self._record.finish("error")
            await _send_json(send, reply.status, body, reply.headers)
        elif self._stream:
            await self._send_stream(send)
        else:
            # A non-streamed reply takes as long as the streamed one would have.
            await _sleep(self._delay + reply.chunk_delay * len(self._plan.token_deltas()))
            cut = reply.fail_after_chunks is not None
            self._record.finish("dropped" if cut else "completed")
            await _send_json(send, 200, self._plan.completion(), reply.headers, cut=cut)

    async def _send_stream(self, send: Send) -> None:
        reply = self._plan.reply
        headers = _SSE_HEADERS + [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await _sleep(self._delay)
        events = self._plan.sse_events(self._include_usage)
        limit = reply.fail_after_chunks
        if limit is not None:
            events = events[:limit]
        elif reply.error_event_after is not None:
            error = _error_body(500, reply.error_message, reply.error_type, reply.error_code)
            events = [*events[: reply.error_event_after], b"data: " + json.dumps(error).encode() + b"\n\n"]
        if reply.chunk_delay <= 0:
            # Nothing to pace: one write keeps per-chunk server overhead out of the measurements.
            await send({"type": "http.response.body", "body": b"".join(events), "more_body": True})
        else:
            for index, data in enumerate(events):
                if index:
                    await anyio.sleep(reply.chunk_delay)
                await send({"type": "http.response.body", "body": data, "more_body": True})
        if limit is not None:
            self._record.finish("dropped")
            return  # an unfinished chunked body: the client sees the connection cut mid-stream
        self._record.finish("completed" if reply.error_event_after is None else "error")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await anyio.sleep(seconds)


async def _send_json(
    send: Send, status: int, body: Any, extra_headers: dict[str, str] | None = None, *, cut: bool = False
) -> None:
    """Send a JSON response; ``cut`` sends only half of it, after which uvicorn, seeing the app
    return with the response unfinished, closes the connection: a drop mid-body."""
    data = json.dumps(body, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in (extra_headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if cut:
        await send({"type": "http.response.body", "body": data[: len(data) // 2], "more_body": True})
    else:
        await send({"type": "http.response.body", "body": data, "more_body": False})


def _json_error(status: int, message: str) -> JSONResponse:
    return JSONResponse(_error_body(status, message), status_code=status)


# --------------------------------------------------------------------------------------------------
# The server


class ScriptedLLM:
    """Rules, request log and ASGI app of one scripted model server.

    Thread-safe enough for its uses: the rule list and the log are guarded by a lock, so a
    benchmark can script from its main thread while the server runs in another one.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        models: Sequence[str] = (DEFAULT_MODEL,),
        default_reply: Callable[[Body], Reply | str] = echo_reply,
        max_log: int = 10_000,
        scripting: bool = True,
    ) -> None:
        """``scripting=False`` leaves out the ``/_scripted`` routes (rules and the request log), for a
        server that others may reach: they would read every prompt and script other users' replies."""
        self.latency = latency
        self.models = list(models)
        self.default_reply = default_reply
        self._rules: list[Rule] = []
        self._log: deque[RecordedRequest] = deque(maxlen=max_log)  # bounded: demo mode runs for days
        self._lock = threading.Lock()
        self._request_ids = itertools.count(1)
        self._rule_ids = itertools.count(1)
        self.base_url: str | None = None
        self._thread: threading.Thread | None = None
        self._thread_server: uvicorn.Server | None = None
        self._thread_socket: socket.socket | None = None
        self._serving: Any = None  # the serve() context entered by ``async with ScriptedLLM()``
        routes = [
            Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
            Route("/v1/models", self._list_models, methods=["GET"]),
        ]
        if scripting:
            routes += [
                Route("/_scripted/rules", self._admin_rules, methods=["GET", "POST", "DELETE"]),
                Route("/_scripted/requests", self._admin_requests, methods=["GET", "DELETE"]),
            ]
        self.app = Starlette(routes=routes)

    # ---- scripting

    def add_rule(self, rule: Rule) -> Rule:
        with self._lock:
            rule.id = next(self._rule_ids)
            self._rules.append(rule)
        return rule

    def script(
        self,
        reply: ReplySource,
        *,
        when: Callable[[Body], bool] | None = None,
        last_user_contains: str | None = None,
        model: str | None = None,
        has_tools: bool | None = None,
        last_is_tool_result: bool | None = None,
        times: int | None = None,
    ) -> Rule:
        """Append a rule; rules are tried in the order they were added."""
        return self.add_rule(
            Rule(
                reply=reply,
                when=when,
                last_user_contains=last_user_contains,
                model=model,
                has_tools=has_tools,
                last_is_tool_result=last_is_tool_result,
                times=times,
            )
        )

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    def clear_rules(self) -> int:
        with self._lock:
            count = len(self._rules)
            self._rules.clear()
        return count

    def _select(self, body: Body) -> Reply:
        with self._lock:
            for rule in self._rules:
                if not rule.exhausted and rule.matches(body):
                    rule.used += 1
                    break
            else:
                rule = None
        if rule is None:
            reply = self.default_reply(body)
            return Reply(content=reply) if isinstance(reply, str) else reply
        return rule.resolve(body)

    # ---- request log

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> int:
        with self._lock:
            count = len(self._log)
            self._log.clear()
        return count

    def reset(self) -> None:
        """Forget rules and requests (between tests sharing one server)."""
        self.clear_rules()
        self.clear_requests()

    async def wait_for(
        self,
        predicate: Callable[[list[RecordedRequest]], Any],
        timeout: float = 5.0,
        interval: float = 0.005,
    ) -> list[RecordedRequest]:
        """Poll the log until ``predicate(requests)`` is true; return the log then.

        Polling (rather than a condition variable) works whichever thread or event loop the
        server runs in. Raises TimeoutError listing what was seen.
        """
        deadline = time.monotonic() + timeout
        while True:
            requests = self.requests
            if predicate(requests):
                return requests
            if time.monotonic() >= deadline:
                seen = [(r.id, r.outcome, last_user_text(r.body)[:40]) for r in requests]
                raise TimeoutError(f"scripted LLM: condition not met within {timeout}s; requests seen: {seen}")
            await anyio.sleep(interval)

    # ---- endpoints

    async def _chat_completions(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _json_error(400, "The request body is not valid JSON.")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _json_error(400, "'messages' is required and must be a list.")
        record = RecordedRequest(
            id=next(self._request_ids),
            body=body,
            headers=dict(request.headers),
            received_at=time.time(),
            peer=f"{request.client.host}:{request.client.port}" if request.client else "",
        )
        with self._lock:
            self._log.append(record)
        try:
            reply = record.reply = self._select(body)
            plan = _Plan.make(record.id, body, reply)
        except Exception as exc:  # a broken script must fail the request visibly, not hang it
            record.finish("error")
            return _json_error(500, f"scripted LLM: the matching rule failed: {exc!r}")
        delay = self.latency if reply.first_token_delay is None else reply.first_token_delay
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return _ChatResponse(record, plan, delay, bool(body.get("stream")), include_usage)

    async def _list_models(self, request: Request) -> Response:
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "maghub-scripted"} for name in self.models]
        return JSONResponse({"object": "list", "data": data})

    async def _admin_rules(self, request: Request) -> Response:
        if request.method == "DELETE":
            return JSONResponse({"deleted": self.clear_rules()})
        if request.method == "GET":
            return JSONResponse({"rules": [rule.describe() for rule in self.rules]})
        try:
            rule = Rule.from_dict(json.loads(await request.body()))
        except (ValueError, TypeError) as exc:
            return _json_error(400, f"invalid rule: {exc}")
        return JSONResponse({"rule": self.add_rule(rule).describe()}, status_code=201)

    async def _admin_requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            return JSONResponse({"deleted": self.clear_requests()})
        return JSONResponse({"requests": [r.to_json() for r in self.requests]})

    # ---- running

    async def __aenter__(self) -> Self:
        self._serving = self.serve()
        await self._serving.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._serving.__aexit__(*exc_info)

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Run uvicorn in the current event loop; yields the base URL (``.../v1``)."""
        async with serve_app(self.app, host, port) as origin:
            self.base_url = origin + "/v1"
            try:
                yield self.base_url
            finally:
                self.base_url = None

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0, startup_timeout: float = 10.0) -> str:
        """Run uvicorn in a daemon thread with its own event loop (for sync code and benchmarks);
        returns the base URL. Stop with :meth:`stop_thread`."""
        if self._thread is not None:
            raise RuntimeError("scripted LLM: already running in a thread")
        sock = _bind(host, port)
        server = _server(self.app)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="scripted-llm", daemon=True)
        thread.start()
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise RuntimeError("scripted LLM: uvicorn failed to start (see its log)")
            time.sleep(0.002)
        self._thread, self._thread_server, self._thread_socket = thread, server, sock
        self.base_url = _origin(sock) + "/v1"
        return self.base_url

    def stop_thread(self, timeout: float = 10.0) -> None:
        if self._thread is None or self._thread_server is None:
            return
        self._thread_server.should_exit = True
        self._thread.join(timeout)
        if self._thread_socket is not None:
            self._thread_socket.close()
        self._thread = self._thread_server = self._thread_socket = None
        self.base_url = None

    @contextmanager
    def running_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        try:
            yield self.start_in_thread(host, port)
        finally:
            self.stop_thread()


@asynccontextmanager
async def serve_app(app: Any, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Run any ASGI app with uvicorn in the current event loop; yields its origin
    (``http://127.0.0.1:<port>``). Port 0 picks a free port."""
    sock = _bind(host, port)
    server = _server(app)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn-{sock.getsockname()[1]}")
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped during startup")
            await asyncio.sleep(0.002)
        yield _origin(sock)
    finally:
        server.should_exit = True
        try:
            await task
        finally:
            sock.close()


def _bind(host: str, port: int) -> socket.socket:
    # Binding ourselves (instead of letting uvicorn do it) tells us the ephemeral port before the
    # server starts, with no race between choosing a free port and using it.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # is IPPROTO_TCP, and without it every response pays a ~40 ms Nagle/delayed-ACK stall.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _origin(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(app: Any, log_config: dict[str, Any] | None = None, log_level: str | None = None) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        lifespan="off",
        access_log=False,
        # None for both: an embedded server must not reconfigure the host process's logging.
        log_config=log_config,
        log_level=log_level,
        # A test that leaves a slow stream open must not stall shutdown for long.
        timeout_graceful_shutdown=1,
        backlog=2048,
    )
    return uvicorn.Server(config)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m maghub.testing.scripted_llm",
        description="Run a scripted OpenAI-compatible LLM server (echoes by default; script it via /_scripted/rules).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900, help="0 picks a free port (printed on start)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before the first token")
    parser.add_argument("--model", action="append", dest="models", help="model id listed by /v1/models (repeatable)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    llm = ScriptedLLM(latency=args.latency, models=args.models or [DEFAULT_MODEL])
    sock = _bind(args.host, args.port)
    print(f"scripted LLM listening on {_origin(sock)}/v1", flush=True)
    _server(llm.app, log_config=uvicorn.config.LOGGING_CONFIG, log_level=args.log_level).run(sockets=[sock])


if __name__ == "__main__":
    main()
