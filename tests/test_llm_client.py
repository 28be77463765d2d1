"""LLMClient and LLMClientPool against the scripted LLM over real HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from maghub.llm.assembler import StreamAssembler
from maghub.llm.client import LLMClient, strip_think
from maghub.llm.config import ModelConfig
from maghub.llm.errors import LLMError, LLMErrorKind
from maghub.llm.http.pool import LLMClientPool
from maghub.llm.http.sse import iter_sse_data
from maghub.llm.types import ChunkEvent, FinalEvent, StreamEvent
from maghub.testing.scripted_llm import Reply, ScriptedLLM, serve_app
from maghub.usage import Usage

USER = [{"role": "user", "content": "what is two plus two"}]
TOOLS = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]
KEY = "sk-very-secret-key-123"
FAST = {"retry_base_delay": 0.001, "retry_max_delay": 0.005}


def make_config(llm: ScriptedLLM, **fields: Any) -> ModelConfig:
    assert llm.base_url is not None
    return ModelConfig(
        **{"name": "test/model", "base_url": llm.base_url, "api_key": KEY, "model": "gpt-test", **fields}
    )


@pytest.fixture
async def client(llm: ScriptedLLM) -> AsyncIterator[LLMClient]:
    async with LLMClient(make_config(llm), **FAST) as c:
        yield c


async def run(client: LLMClient, messages: list = USER, **kw: Any) -> tuple[list[ChunkEvent], FinalEvent]:
    events: list[StreamEvent] = [e async for e in client.stream_chat(messages, **kw)]
    *chunks, final = events
    assert all(isinstance(e, ChunkEvent) for e in chunks) and isinstance(final, FinalEvent)
    return chunks, final  # type: ignore[return-value]


async def stream_error(client: LLMClient, **kw: Any) -> tuple[list[StreamEvent], LLMError]:
    received: list[StreamEvent] = []
    with pytest.raises(LLMError) as caught:
        async for event in client.stream_chat(USER, **kw):
            received.append(event)
    return received, caught.value


# ---- streaming


async def test_stream_content_reasoning_and_usage(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(content="It is four.", reasoning="Two plus two is four"))
    chunks, final = await run(client)
    assert final.message.content == "It is four."
    assert final.message.reasoning_content == "Two plus two is four"
    assert "".join(c.content for c in chunks) == "It is four."
    assert "".join(c.reasoning for c in chunks) == "Two plus two is four"
    assert final.finish_reason == "stop" and final.attempts == 1
    # usage comes from the last chunk, which has no choices, after the finish_reason chunk
    assert chunks[-1].chunk["choices"] == [] and "usage" in chunks[-1].chunk
    assert chunks[-2].chunk["choices"][0]["finish_reason"] == "stop"
    assert final.usage == Usage(prompt_tokens=5, completion_tokens=8, total_tokens=13)


async def test_chunks_are_the_provider_json_verbatim(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(content="Hi"))
    chunks, _ = await run(client)
    first = chunks[0].chunk
    assert first["object"] == "chat.completion.chunk" and first["id"] == f"chatcmpl-scripted-{llm.requests[-1].id}"
    assert first["choices"][0] == {
        "index": 0,
        "delta": {"role": "assistant", "content": ""},
        "logprobs": None,
        "finish_reason": None,
    }
    assert first["usage"] is None  # nulls are kept: relaying must not alter what the provider said
    json.dumps([c.chunk for c in chunks])


async def test_parallel_tool_calls_assembled_by_index(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(
        Reply(
            content="Let me compute.",
            tool_calls=[
                {"name": "add", "arguments": {"a": 2, "b": 2}, "id": "call_add"},
                {"name": "mul", "arguments": {"x": 3, "y": [1, 2, 3]}},
            ],
        )
    )
    _, final = await run(client, tools=TOOLS, tool_choice="auto")
    calls = final.message.tool_calls
    assert [(c["id"], c["type"], c["function"]["name"]) for c in calls] == [
        ("call_add", "function", "add"),
        (f"call_{llm.requests[-1].id}_1", "function", "mul"),  # the server's generated id
    ]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [
        {"a": 2, "b": 2},
        {"x": 3, "y": [1, 2, 3]},
    ]
    assert final.finish_reason == "tool_calls"
    assert final.message.to_openai() == {
        "role": "assistant",
        "content": "Let me compute.",
        "tool_calls": calls,
    }
    body = llm.requests[-1].body
    assert body["tools"] == TOOLS and body["tool_choice"] == "auto"


async def test_connections_are_kept_alive_between_streams(llm: ScriptedLLM, client: LLMClient) -> None:
    for _ in range(3):
        await run(client)
    await client.complete(USER)
    # The rest of the body after [DONE] is read, so the connection goes back to the pool.
    assert len({r.peer for r in llm.requests}) == 1 and llm.requests[0].peer


def test_assembler_handles_interleaved_and_index_less_tool_calls() -> None:
    def chunk(*calls: dict) -> dict:
        return {"choices": [{"index": 0, "delta": {"tool_calls": list(calls)}}]}

    interleaved = StreamAssembler()
    for c in [
        chunk({"index": 1, "id": "b", "function": {"name": "g", "arguments": ""}}),
        chunk({"index": 0, "id": "a", "function": {"name": "f", "arguments": '{"x"'}}),
        chunk({"index": 1, "function": {"arguments": "{}"}}),
        chunk({"index": 0, "function": {"arguments": ": 1}"}}),
    ]:
        interleaved.add(c)
    assert [(t["id"], t["function"]["arguments"]) for t in interleaved.message().tool_calls] == [
        ("a", '{"x": 1}'),
        ("b", "{}"),
    ]

    no_index = StreamAssembler()  # some servers omit index and id
    for c in [
        chunk({"function": {"name": "f", "arguments": '{"a":'}}),
        chunk({"function": {"arguments": " 1}"}}),
    ]:
        no_index.add(c)
    (call,) = no_index.message().tool_calls
    assert call["function"] == {"name": "f", "arguments": '{"a": 1}'} and call["id"].startswith("call_")


async def test_sse_decoding_edge_cases() -> None:
    body = (
        b": keep-alive comment\n\n"
        b'event: message\nid: 1\ndata:{"a": 1}\n\n'  # no space after the colon
        b'data: {"b":\r\ndata: 2}\r\n\r\n'  # CRLF and an event split over two data lines
        b'data: {"c": 3}\n\n'
        b"data: [DONE]\n\n"
        b'data: {"after": "done"}\n\n'
    )
    events = [json.loads(d) async for d in iter_sse_data(httpx2.Response(200, content=body))]
    assert events == [{"a": 1}, {"b": 2}, {"c": 3}]
    unterminated = httpx2.Response(200, content=b'data: {"last": true}')  # server closed without a blank line
    assert [d async for d in iter_sse_data(unterminated)] == ['{"last": true}']


async def test_error_event_inside_the_stream(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(content="a b c", error_event_after=1, error_message="upstream overloaded"), times=1)
    llm.script(Reply(content="recovered"))
    _, final = await run(client)  # the error came before the first token: retried
    assert final.message.content == "recovered" and final.attempts == 2

    llm.clear_rules()
    llm.script(Reply(content="a b c", error_event_after=3, error_message="upstream died"))
    received, error = await stream_error(client)  # after the first token: raised
    assert error.kind is LLMErrorKind.SERVER and "upstream died" in str(error)
    assert "".join(e.content for e in received if isinstance(e, ChunkEvent)) == "a b"


async def test_json_reply_to_a_streaming_request_is_a_protocol_error() -> None:
    async def not_streaming(request: Request) -> JSONResponse:
        return JSONResponse({"id": "x", "object": "chat.completion", "choices": []})

    app = Starlette(routes=[Route("/v1/chat/completions", not_streaming, methods=["POST"])])
    async with serve_app(app) as root:
        config = ModelConfig(name="odd", base_url=root + "/v1", api_key="", model="m")
        async with LLMClient(config, **FAST) as client:
            _, error = await stream_error(client)
    assert error.kind is LLMErrorKind.PROTOCOL and "one JSON reply" in str(error) and not error.retryable


async def test_model_params_and_headers_are_sent(llm: ScriptedLLM) -> None:
    config = make_config(
        llm,
        temperature=0.25,
        top_p=0.9,
        max_tokens=64,
        stop=["END"],
        seed=7,
        presence_penalty=0.5,
        extra_body={"top_k": 5, "repetition_penalty": 1.1},
        extra_headers={"X-Tenant": "acme", "X-Trace": "model"},
    )
    async with LLMClient(config, **FAST) as client:
        await run(client, temperature=0.0, extra_headers={"X-Trace": "call"})
        await client.complete(USER)
    streamed, completed = llm.requests
    body = streamed.body
    assert body["model"] == "gpt-test" and body["messages"] == USER
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["stop"], body["seed"]) == (
        0.0,
        0.9,
        64,
        ["END"],
        7,
    )
    assert body["presence_penalty"] == 0.5 and body["top_k"] == 5 and body["repetition_penalty"] == 1.1
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert streamed.headers["x-tenant"] == "acme" and streamed.headers["x-trace"] == "call"
    assert streamed.headers["authorization"] == f"Bearer {KEY}"
    assert completed.body["temperature"] == 0.25 and completed.headers["x-trace"] == "model"
    assert "stream" not in completed.body  # the model's stream flag is off: helper calls don't stream


async def test_empty_api_key_sends_a_placeholder(llm: ScriptedLLM) -> None:
    async with LLMClient(make_config(llm, api_key=""), **FAST) as client:
        await client.complete(USER)
    assert llm.requests[-1].headers["authorization"] == "Bearer not-needed"


# ---- retries


async def test_retries_server_errors_then_succeeds(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(status=500, error_message="boom"), times=1)
    llm.script(Reply(status=503), times=1)
    llm.script(Reply(content="finally"))
    chunks, final = await run(client)
    assert final.message.content == "finally" and final.attempts == 3
    assert [r.outcome for r in llm.requests] == ["error", "error", "completed"]
    # chunks of failed attempts never reach the consumer
    assert sum(1 for c in chunks if c.chunk["choices"] and c.chunk["choices"][0]["delta"].get("role")) == 1


async def test_rate_limit_honours_retry_after(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(status=429, headers={"Retry-After": "0.2"}), times=1)
    _, final = await run(client)
    first, second = llm.requests
    assert final.attempts == 2 and second.completed
    assert second.received_at - first.received_at >= 0.19


async def test_rate_limit_with_long_retry_after_is_not_retried(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(status=429, error_message="quota", headers={"Retry-After": "3600"}))
    _, error = await stream_error(client)
    assert error.kind is LLMErrorKind.RATE_LIMIT and error.status_code == 429 and error.retry_after == 3600
    assert len(llm.requests) == 1


async def test_gives_up_after_max_retries(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(status=502, error_message="bad gateway"))
    _, error = await stream_error(client)
    assert error.kind is LLMErrorKind.SERVER and error.status_code == 502 and error.retryable
    assert "bad gateway" in str(error)
    assert len(llm.requests) == 3  # 1 + max_retries


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, LLMErrorKind.BAD_REQUEST),
        (401, LLMErrorKind.AUTH),
        (403, LLMErrorKind.AUTH),
        (404, LLMErrorKind.NOT_FOUND),
    ],
)
async def test_client_errors_are_not_retried(
    llm: ScriptedLLM, client: LLMClient, status: int, kind: LLMErrorKind
) -> None:
    llm.script(Reply(status=status, error_message=f"Incorrect API key provided: {KEY}"))
    _, error = await stream_error(client)
    assert error.kind is kind and error.status_code == status and not error.retryable
    assert len(llm.requests) == 1
    message = str(error)
    assert KEY not in message and KEY not in repr(error) and KEY not in error.detail
    assert "test/model" in message and "gpt-test" in message and llm.base_url in message


async def test_no_retry_after_the_first_token(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(content="partial answer that breaks", fail_after_chunks=3))
    received, error = await stream_error(client)
    assert error.kind is LLMErrorKind.CONNECTION
    assert "".join(e.content for e in received if isinstance(e, ChunkEvent)) == "partial answer"
    assert len(llm.requests) == 1 and llm.requests[0].outcome == "dropped"


async def test_drop_before_the_first_token_is_retried(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(content="lost", fail_after_chunks=1), times=1)  # only the role chunk got out
    llm.script(Reply(content="second try"))
    chunks, final = await run(client)
    assert final.message.content == "second try" and final.attempts == 2
    assert [c.chunk["choices"][0]["delta"] for c in chunks[:1]] == [{"role": "assistant", "content": ""}]
    assert sum(1 for c in chunks if c.chunk["choices"] and "role" in c.chunk["choices"][0]["delta"]) == 1


async def test_connection_refused(llm: ScriptedLLM) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = ModelConfig(name="dead", base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, model="m")
    async with LLMClient(config, **FAST) as client:
        _, error = await stream_error(client)
        with pytest.raises(LLMError) as non_stream:
            await client.complete(USER)
    assert error.kind is LLMErrorKind.CONNECTION and error.status_code is None
    assert non_stream.value.kind is LLMErrorKind.CONNECTION
    assert f"127.0.0.1:{port}" in str(error) and "dead" in str(error) and KEY not in str(error)


async def test_timeout_before_first_token(llm: ScriptedLLM) -> None:
    llm.script(Reply(content="too late", first_token_delay=2))
    async with LLMClient(make_config(llm, timeout=0.2), max_retries=1, **FAST) as client:
        start = time.perf_counter()
        _, error = await stream_error(client)
    assert error.kind is LLMErrorKind.TIMEOUT and error.retryable
    assert 0.35 < time.perf_counter() - start < 1.5  # two attempts of 0.2 s
    assert len(llm.requests) == 2


async def test_read_timeout_applies_between_chunks_not_to_the_whole_stream(llm: ScriptedLLM) -> None:
    llm.script(Reply(content="one two three four five six", chunk_delay=0.05))
    async with LLMClient(make_config(llm, timeout=0.2), **FAST) as client:
        _, final = await run(client)  # 0.35 s in total, > timeout, but no gap > 0.2 s
    assert final.message.content == "one two three four five six"


# ---- cancellation


async def test_cancelling_the_consumer_closes_the_http_stream(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(content="word " * 200, chunk_delay=0.02))
    first_token = asyncio.Event()

    async def consume() -> None:
        async for event in client.stream_chat(USER):
            if isinstance(event, ChunkEvent) and event.content:
                first_token.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_token.wait(), 2)
    cancelled_at = time.time()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (record,) = await llm.wait_for(lambda reqs: reqs and reqs[0].finished, timeout=1)
    assert record.outcome == "disconnected" and record.finished_at - cancelled_at < 1.0


async def test_closing_the_generator_early_closes_the_http_stream(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(content="word " * 200, chunk_delay=0.02))
    async with aclosing(client.stream_chat(USER)) as events:
        async for event in events:
            if isinstance(event, ChunkEvent) and event.content:
                break
    (record,) = await llm.wait_for(lambda reqs: reqs and reqs[0].finished, timeout=1)
    assert record.outcome == "disconnected"


async def test_cancelling_while_waiting_for_the_first_token(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(content="slow", first_token_delay=10))
    task = asyncio.create_task(run(client))
    await llm.wait_for(lambda reqs: len(reqs) == 1, timeout=2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (record,) = await llm.wait_for(lambda reqs: reqs[0].finished, timeout=1)
    assert record.outcome == "disconnected"


# ---- complete()


async def test_complete_non_streaming_strips_think(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(content="<think>\nlet me see\n</think>\n\nA short title"))
    result = await client.complete(USER, max_tokens=20)
    assert result.text == "A short title" and result.finish_reason == "stop"
    assert (
        result.usage is not None
        and result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    )
    body = llm.requests[-1].body
    assert "stream" not in body and body["max_tokens"] == 20


async def test_complete_streams_when_the_model_says_so(llm: ScriptedLLM) -> None:
    llm.script(Reply(content="thinking</think>Summary here", reasoning="r"))
    async with LLMClient(make_config(llm, stream=True), **FAST) as client:
        result = await client.complete(USER)
    assert (
        result.text == "Summary here" and result.usage is not None and result.usage.completion_tokens == 3
    )  # "thinking</think>Summary", " here", "r"
    assert llm.requests[-1].body["stream"] is True


async def test_complete_retries_too(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(status=500), times=2)
    llm.script("ok")
    assert (await client.complete(USER)).text == "ok"
    assert len(llm.requests) == 3


def test_strip_think() -> None:
    assert strip_think("<think>a</think> b </think> c") == "b </think> c"
    assert strip_think("  plain  ") == "plain"


# ---- pool


async def test_pool_reuses_and_rebuilds(llm: ScriptedLLM) -> None:
    pool = LLMClientPool(**FAST)
    config = make_config(llm)
    first = await pool.get(config)
    assert await pool.get(config.model_copy()) is first
    retuned = await pool.get(make_config(llm, temperature=0.1))
    assert retuned is not first
    rekeyed = await pool.get(make_config(llm, temperature=0.1, api_key="sk-other"))
    assert rekeyed is not retuned and len(pool) == 1
    other = await pool.get(make_config(llm, name="other"))
    assert len(pool) == 2 and other is not rekeyed
    await rekeyed.complete(USER)
    assert llm.requests[-1].headers["authorization"] == "Bearer sk-other"
    await pool.aclose()


async def test_pool_rebuild_does_not_break_a_running_stream(llm: ScriptedLLM) -> None:
    pool = LLMClientPool(**FAST)
    llm.script(Reply(content="a b c d e f", chunk_delay=0.02))
    old = await pool.get(make_config(llm))
    async with aclosing(old.stream_chat(USER)) as events:
        first = await anext(events)
        new = await pool.get(make_config(llm, temperature=1.0))  # config edited mid-stream
        rest = [event async for event in events]
    assert new is not old
    final = rest[-1]
    assert isinstance(first, ChunkEvent) and isinstance(final, FinalEvent)
    assert final.message.content == "a b c d e f"
    assert (await new.complete(USER)).text == "a b c d e f"
    await pool.aclose()
    with pytest.raises(RuntimeError, match="closed"):  # the shared connections close with the pool
        await new.complete(USER)
