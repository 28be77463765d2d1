"""The agent loop against the scripted LLM over real HTTP and fixture MCP servers over real stdio."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from typing import Any, TypeVar

import anyio
import pytest

from maghub.agent import (
    AgentEvent,
    AgentFailed,
    AgentFinished,
    AssistantTurn,
    LLMChunk,
    MCPToolSet,
    ToolResult,
    Transfer,
    TransferTarget,
    run_agent,
)
from maghub.llm.client import LLMClient
from maghub.llm.config import ModelConfig
from maghub.llm.errors import LLMErrorKind
from maghub.mcp.connections.manager import MCPManager
from maghub.mcp.connections.status import ConnectionState
from maghub.mcp.errors import UnknownServerError
from maghub.testing.mcp_servers.harness import FAST_POLICY, fixture_server, new_marker, wait_for_no_marked_processes
from maghub.testing.scripted_llm import Reply, ScriptedLLM, serve_app
from maghub.usage import Usage

USER = [{"role": "user", "content": "please help"}]
QUICK_TIMEOUT = 0.3
Event = TypeVar("Event", bound=AgentEvent)


@pytest.fixture(scope="module")
async def manager() -> AsyncIterator[MCPManager]:
    """Toolbox servers for the whole module (a stdio start costs about a second): ``box`` with the
    default timeout, ``quick`` with a short one, ``off`` disabled."""
    marker = new_marker()
    async with MCPManager(FAST_POLICY) as manager:
        await manager.apply(
            [
                fixture_server("box", marker),
                fixture_server("quick", marker, timeout=QUICK_TIMEOUT),
                fixture_server("off", marker, disabled=True),
            ]
        )
        await manager.wait_settled(timeout=30)
        for name in ("box", "quick"):
            assert manager.server_status(name).state == ConnectionState.CONNECTED, manager.server_status(name)
        yield manager
    leftover = await wait_for_no_marked_processes(marker, timeout=5)
    assert not leftover, f"processes left running after the tests: {leftover}"


@pytest.fixture
def box(manager: MCPManager) -> MCPToolSet:
    return MCPToolSet(manager, ["box"])


def make_client(base_url: str | None) -> LLMClient:
    assert base_url is not None
    config = ModelConfig(name="test/agent", base_url=base_url, api_key="sk-test", model="agent-model")
    return LLMClient(config, retry_base_delay=0.001, retry_max_delay=0.005)


@pytest.fixture
async def client(llm: ScriptedLLM) -> AsyncIterator[LLMClient]:
    async with make_client(llm.base_url) as client:
        yield client


async def run(client: LLMClient, messages: list[dict[str, Any]] = USER, **options: Any) -> list[AgentEvent]:
    async with aclosing(run_agent(client, messages, **options)) as events:
        return [event async for event in events]


def only(events: list[AgentEvent], kind: type[Event]) -> list[Event]:
    return [event for event in events if isinstance(event, kind)]


def finished(events: list[AgentEvent]) -> AgentFinished:
    assert isinstance(events[-1], AgentFinished), events[-1]
    assert sum(isinstance(e, AgentFinished | AgentFailed) for e in events) == 1
    return events[-1]


def call(name: str, arguments: dict[str, Any] | str, call_id: str | None = None) -> dict[str, Any]:
    return {"name": name, "arguments": arguments, **({"id": call_id} if call_id else {})}


def assert_every_tool_call_answered(messages: list[dict[str, Any]]) -> None:
    """Each assistant tool call has exactly one tool message right after its turn."""
    for position, message in enumerate(messages):
        if message["role"] != "assistant" or not message.get("tool_calls"):
            continue
        following = []
        for later in messages[position + 1 :]:
            if later["role"] != "tool":
                break
            following.append(later["tool_call_id"])
        assert following == [c["id"] for c in message["tool_calls"]], (following, message["tool_calls"])


def tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "tool"]


# --- answers and tool rounds ----------------------------------------------------------------------


async def test_plain_answer_is_streamed_and_relayed(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(content="Hello there, friend"))
    history = [*USER, {"role": "assistant", "content": "earlier", "reasoning_content": "old thoughts"}, *USER]
    events = await run(client, history)

    chunks = only(events, LLMChunk)
    assert "".join(c.content for c in chunks) == "Hello there, friend" and len(chunks) > 3
    assert all(c.chunk["object"] == "chat.completion.chunk" and c.call_index == 0 for c in chunks)
    assert isinstance(events[-2], AssistantTurn) and events.index(events[-2]) > events.index(chunks[-1])
    done = finished(events)
    assert (done.output, done.stop_reason, done.llm_calls, done.transfer) == (
        "Hello there, friend",
        "completed",
        1,
        None,
    )
    assert done.messages_added == [{"role": "assistant", "content": "Hello there, friend"}]

    (request,) = llm.requests
    assert "tools" not in request.body and "tool_choice" not in request.body
    assert all("reasoning_content" not in m for m in request.body["messages"])  # never sent back
    assert history[1]["reasoning_content"] == "old thoughts"  # the caller's messages are not modified


async def test_one_tool_round(llm: ScriptedLLM, client: LLMClient, box: MCPToolSet) -> None:
    llm.script(Reply(reasoning="I should add", tool_calls=[call("add", {"a": 2, "b": 3}, "c1")]), times=1)
    llm.script(Reply(content="The sum is 5."), last_is_tool_result=True)
    events = await run(client, tools=box)

    kinds = [type(e).__name__ for e in events if not isinstance(e, LLMChunk)]
    assert kinds == ["AssistantTurn", "ToolResult", "AssistantTurn", "AgentFinished"]
    first_turn = only(events, AssistantTurn)[0]
    assert first_turn.reasoning == "I should add" and "reasoning_content" not in first_turn.message
    (result,) = only(events, ToolResult)
    assert (result.tool_call_id, result.name, result.content, result.is_error, result.kind) == (
        "c1",
        "add",
        "5.0",
        False,
        "tool",
    )
    done = finished(events)
    assert (done.output, done.tool_output, done.llm_calls) == ("The sum is 5.", "5.0", 2)
    assert done.messages_added[0]["reasoning_content"] == "I should add"  # stored form keeps it
    assert done.messages_added[1] == {"role": "tool", "tool_call_id": "c1", "content": "5.0"}

    first, second = llm.requests
    assert {"add", "echo", "sleep"} <= {tool["function"]["name"] for tool in first.body["tools"]}
    assistant = second.body["messages"][-2]
    assert assistant["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a": 2, "b": 3}'}
    assert "reasoning_content" not in assistant
    assert second.body["messages"][-1] == {"role": "tool", "tool_call_id": "c1", "content": "5.0"}


async def test_parallel_tool_calls_overlap_and_keep_call_order(
    llm: ScriptedLLM, client: LLMClient, box: MCPToolSet
) -> None:
    calls = [
        call("sleep", {"seconds": 0.5}, "slow1"),
        call("sleep", {"seconds": 0.5}, "slow2"),
        call("echo", {"text": "fast"}, "fast"),  # finishes first, still answered last
    ]
    llm.script(Reply(tool_calls=calls), times=1)
    llm.script(Reply(content="done"), last_is_tool_result=True)
    stamped: list[tuple[float, AgentEvent]] = []
    async with aclosing(run_agent(client, USER, tools=box)) as events:
        async for event in events:
            stamped.append((time.monotonic(), event))

    turn_at = next(at for at, e in stamped if isinstance(e, AssistantTurn))
    first_result_at = next(at for at, e in stamped if isinstance(e, ToolResult))
    assert first_result_at - turn_at < 0.9, "the two 0.5 s calls ran one after the other"
    results = [e for _, e in stamped if isinstance(e, ToolResult)]
    assert [(r.tool_call_id, r.content) for r in results] == [
        ("slow1", "slept 0.5"),
        ("slow2", "slept 0.5"),
        ("fast", "fast"),
    ]
    assert [m["tool_call_id"] for m in tool_messages(llm.requests[1].body)] == ["slow1", "slow2", "fast"]
    assert finished([e for _, e in stamped]).tool_output == "slept 0.5\nslept 0.5\nfast"


async def test_failing_tools_report_errors_to_the_llm(llm: ScriptedLLM, client: LLMClient, box: MCPToolSet) -> None:
    llm.script(Reply(tool_calls=[call("fail", {"message": "disk full"}), call("boom", {})]), times=1)
    llm.script(Reply(content="Sorry."), last_is_tool_result=True)
    events = await run(client, tools=box)

    failed, crashed = only(events, ToolResult)
    assert failed.is_error and failed.content == "Error executing tool fail: disk full"
    assert crashed.is_error and crashed.content.startswith("Error") and "internal detail" not in crashed.content
    sent = [m["content"] for m in tool_messages(llm.requests[1].body)]
    assert sent == [failed.content, crashed.content]
    assert finished(events).output == "Sorry."


async def test_unknown_tools_and_bad_arguments_are_answered_with_errors(
    llm: ScriptedLLM, client: LLMClient, box: MCPToolSet
) -> None:
    calls = [
        call("nope", {}, "a"),
        call("echo", "{not json", "b"),
        call("echo", "[1, 2]", "c"),
        call("echo", {"text": "ok"}, "d"),
    ]
    llm.script(Reply(tool_calls=calls), times=1)
    llm.script(Reply(content="fine"), last_is_tool_result=True)
    events = await run(client, tools=box)

    unknown, not_json, not_object, ok = only(events, ToolResult)
    assert unknown.is_error and "no tool named 'nope'" in unknown.content and "echo" in unknown.content
    assert not_json.is_error and "not valid JSON" in not_json.content
    assert not_object.is_error and "must be a JSON object, not an array" in not_object.content
    assert [r.kind for r in (unknown, not_json, not_object)] == ["rejected"] * 3
    assert all(r.content.startswith("Error: ") for r in (unknown, not_json, not_object))
    assert (ok.content, ok.is_error, ok.kind) == ("ok", False, "tool")

    sent = tool_messages(llm.requests[1].body)
    assert [m["tool_call_id"] for m in sent] == ["a", "b", "c", "d"]
    assert_every_tool_call_answered(llm.requests[1].body["messages"])
    assert finished(events).tool_output == "ok"


async def test_tool_timeout_is_the_servers(llm: ScriptedLLM, client: LLMClient, manager: MCPManager) -> None:
    llm.script(Reply(tool_calls=[call("sleep", {"seconds": 10})]), times=1)
    llm.script(Reply(content="too slow"), last_is_tool_result=True)
    started = time.monotonic()
    events = await run(client, tools=MCPToolSet(manager, ["quick"]))

    (result,) = only(events, ToolResult)
    assert result.is_error and f"did not answer within {QUICK_TIMEOUT:g} s" in result.content
    assert time.monotonic() - started < 3
    assert tool_messages(llm.requests[1].body)[0]["content"] == result.content
    assert finished(events).output == "too slow"


# --- failures, limits, usage -----------------------------------------------------------------------


async def test_llm_failure_mid_stream_keeps_what_was_completed(
    llm: ScriptedLLM, client: LLMClient, box: MCPToolSet
) -> None:
    llm.script(Reply(tool_calls=[call("echo", {"text": "kept"}, "e1")]), times=1)
    # Cut after the role chunk and two tokens: too late for a transparent retry.
    llm.script(Reply(content="partial answer that never ends", fail_after_chunks=3), last_is_tool_result=True)
    events = await run(client, tools=box)

    failure = events[-1]
    assert isinstance(failure, AgentFailed) and not only(events, AgentFinished)
    assert "test/agent" in failure.message and isinstance(failure.kind, LLMErrorKind)
    assert failure.partial_content == "partial answer"
    assert [m["role"] for m in failure.messages_added] == ["assistant", "tool"]
    assert failure.messages_added[1] == {"role": "tool", "tool_call_id": "e1", "content": "kept"}
    assert failure.usage == only(events, AssistantTurn)[0].usage and failure.usage.total_tokens > 0
    assert (failure.llm_calls, failure.tool_output) == (2, "kept")
    assert "".join(c.content for c in only(events, LLMChunk) if c.call_index == 1) == "partial answer"


async def test_llm_refusing_the_first_call_fails_with_nothing_completed(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(status=400, error_message="bad parameter"))
    (failure,) = await run(client)
    assert isinstance(failure, AgentFailed)
    assert (failure.kind, failure.status_code, failure.llm_calls) == (LLMErrorKind.BAD_REQUEST, 400, 1)
    assert failure.messages_added == [] and failure.usage == Usage() and "bad parameter" in failure.message


def tools_allowed(body: dict[str, Any]) -> bool:
    return body.get("tool_choice") != "none"


async def test_ten_calls_at_most_and_the_last_one_answers(llm: ScriptedLLM, client: LLMClient, box: MCPToolSet) -> None:
    llm.script(Reply(tool_calls=[call("echo", {"text": "again"})]), when=tools_allowed)
    llm.script(Reply(content="Final answer"))
    events = await run(client, tools=box)

    done = finished(events)
    assert (done.stop_reason, done.llm_calls, done.output) == ("max_llm_calls", 10, "Final answer")
    requests = llm.requests
    assert len(requests) == 10
    assert all("tool_choice" not in r.body for r in requests[:9])
    assert requests[9].body["tool_choice"] == "none" and requests[9].body["tools"]  # tools listed, not usable
    assert len(only(events, ToolResult)) == 9 and only(events, AssistantTurn)[-1].tools_withheld
    assert_every_tool_call_answered(done.messages_added)


async def test_call_limit_is_configurable_and_late_calls_are_not_run(
    llm: ScriptedLLM, client: LLMClient, box: MCPToolSet
) -> None:
    # A provider that ignores tool_choice "none": the last turn's calls are answered, never run.
    llm.script(Reply(content="still going", tool_calls=[call("echo", {"text": "ran"})]))
    events = await run(client, tools=box, max_llm_calls=2)

    done = finished(events)
    assert (done.stop_reason, done.llm_calls, done.output) == ("max_llm_calls", 2, "still going")
    ran, refused = only(events, ToolResult)
    assert (ran.content, ran.kind) == ("ran", "tool")
    assert refused.is_error and refused.kind == "rejected" and "limit of 2 LLM calls" in refused.content
    assert len(llm.requests) == 2 and done.tool_output == "ran"
    assert_every_tool_call_answered(done.messages_added)

    with pytest.raises(ValueError, match="at least 1"):
        await run(client, max_llm_calls=0)


async def test_usage_is_summed_over_the_calls(llm: ScriptedLLM, client: LLMClient, box: MCPToolSet) -> None:
    llm.script(
        Reply(tool_calls=[call("echo", {"text": "x"})], usage={"prompt_tokens": 11, "completion_tokens": 7}), times=1
    )
    llm.script(Reply(content="done", usage={"prompt_tokens": 23, "completion_tokens": 5}), last_is_tool_result=True)
    events = await run(client, tools=box)

    assert [turn.usage for turn in only(events, AssistantTurn)] == [Usage(11, 7, 18), Usage(23, 5, 28)]
    done = finished(events)
    assert (done.usage, done.calls_without_usage) == (Usage(34, 12, 46), 0)


def without_usage_on_first_request(app: Any) -> Callable[..., Any]:
    """Wrap the scripted LLM's ASGI app so that its first chat request does not ask for usage,
    like a provider that never reports any."""
    seen = 0

    async def wrapped(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        nonlocal seen
        is_chat = scope["type"] == "http" and scope["path"].endswith("/chat/completions")
        seen += is_chat
        if not (is_chat and seen == 1):
            await app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        data = json.loads(body)
        data.pop("stream_options", None)
        new_body = json.dumps(data).encode()
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
        headers.append((b"content-length", str(len(new_body)).encode()))
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": new_body, "more_body": False}

        await app({**scope, "headers": headers}, replay, send)

    return wrapped


async def test_missing_usage_counts_as_zero_and_is_noted(llm: ScriptedLLM, box: MCPToolSet) -> None:
    llm.script(Reply(tool_calls=[call("echo", {"text": "x"})]), times=1)
    llm.script(Reply(content="done", usage={"prompt_tokens": 4, "completion_tokens": 2}), last_is_tool_result=True)
    async with serve_app(without_usage_on_first_request(llm.app)) as origin, make_client(origin + "/v1") as client:
        events = await run(client, tools=box)

    assert [turn.usage for turn in only(events, AssistantTurn)] == [None, Usage(4, 2, 6)]
    done = finished(events)
    assert (done.usage, done.calls_without_usage, done.output) == (Usage(4, 2, 6), 1, "done")


# --- transfers -------------------------------------------------------------------------------------

TARGETS = [TransferTarget("B", "Writes the report."), TransferTarget("C")]


async def test_transfer_ordinary_tools_run_and_the_first_valid_transfer_wins(
    llm: ScriptedLLM, client: LLMClient, box: MCPToolSet
) -> None:
    calls = [
        call("transfer_to_nowhere", {}, "t0"),
        call("transfer_to_C", {"message": "note for C"}, "t1"),
        call("echo", {"text": "x"}, "t2"),
        call("transfer_to_B", {}, "t3"),
    ]
    llm.script(Reply(content="Routing to C", tool_calls=calls))
    events = await run(client, tools=box, transfers=TARGETS)

    invalid, chosen, echoed, second = only(events, ToolResult)
    assert invalid.is_error and invalid.kind == "transfer" and "cannot transfer to 'nowhere'" in invalid.content
    assert "B, C" in invalid.content
    assert (chosen.content, chosen.is_error, chosen.kind) == ("Transferred to C.", False, "transfer")
    assert (echoed.content, echoed.kind) == ("x", "tool")  # ordinary calls of the turn still run
    assert second.is_error and "already transferred to 'C'" in second.content
    done = finished(events)
    assert (done.stop_reason, done.transfer, done.output) == (
        "transfer",
        Transfer("C", "t1", "note for C"),
        "Routing to C",
    )
    assert (done.llm_calls, len(llm.requests), done.tool_output) == (1, 1, "x")
    assert_every_tool_call_answered(done.messages_added)

    offered = {tool["function"]["name"]: tool["function"] for tool in llm.requests[0].body["tools"]}
    assert offered["transfer_to_B"]["description"] == "Transfer to B. Writes the report."
    assert {"transfer_to_C", "echo"} <= offered.keys()


async def test_transfer_output_falls_back_to_its_note(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(tool_calls=[call("transfer_to_B", {"message": "the draft"})]), times=1)
    llm.script(Reply(tool_calls=[call("transfer_to_B", "{broken")]), times=1)  # the name alone decides
    with_note = finished(await run(client, transfers=TARGETS))
    assert (with_note.output, with_note.transfer and with_note.transfer.target) == ("the draft", "B")
    broken = finished(await run(client, transfers=TARGETS))
    assert (broken.stop_reason, broken.output) == ("transfer", "")
    assert broken.transfer is not None and (broken.transfer.target, broken.transfer.message) == ("B", "")


async def test_invalid_transfer_alone_lets_the_model_try_again(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(tool_calls=[call("transfer_to_Z", {}, "z")]), times=1)
    llm.script(Reply(content="I will answer myself."), last_is_tool_result=True)
    events = await run(client, transfers=[TransferTarget("B")])

    (invalid,) = only(events, ToolResult)
    assert invalid.is_error and "not a transfer target here; targets: B" in invalid.content
    done = finished(events)
    assert (done.stop_reason, done.transfer, done.llm_calls) == ("completed", None, 2)
    assert tool_messages(llm.requests[1].body) == [invalid.message]


async def test_a_transfer_on_the_last_call_is_still_taken(llm: ScriptedLLM, client: LLMClient, box: MCPToolSet) -> None:
    # The provider ignores tool_choice "none": the ordinary call is not run, the decision is taken.
    llm.script(Reply(tool_calls=[call("echo", {"text": "late"}), call("transfer_to_B", {})]))
    events = await run(client, tools=box, transfers=TARGETS, max_llm_calls=1)

    refused, chosen = only(events, ToolResult)
    assert refused.kind == "rejected" and "limit of 1 LLM calls" in refused.content
    assert chosen.content == "Transferred to B."
    done = finished(events)
    assert done.stop_reason == "transfer" and done.transfer is not None and done.transfer.target == "B"
    assert llm.requests[0].body["tool_choice"] == "none" and done.tool_output == ""


# --- cancellation ----------------------------------------------------------------------------------


async def test_cancelling_the_consumer_closes_the_llm_stream(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(content="word " * 200, chunk_delay=0.02))
    first_token = anyio.Event()

    async def consume() -> None:
        async with aclosing(run_agent(client, USER)) as events:
            async for event in events:
                if isinstance(event, LLMChunk) and event.content:
                    first_token.set()

    async with anyio.create_task_group() as group:
        group.start_soon(consume)
        with anyio.fail_after(2):
            await first_token.wait()
        cancelled_at = time.time()
        group.cancel_scope.cancel()
    (record,) = await llm.wait_for(lambda reqs: reqs and reqs[0].finished, timeout=1)
    assert record.outcome == "disconnected" and record.finished_at is not None
    assert record.finished_at - cancelled_at < 1.0


@asynccontextmanager
async def abandoned_generators() -> AsyncIterator[list[AsyncGenerator[Any, None]]]:
    """Async generators garbage-collected unclosed are kept here instead of being closed by the event
    loop, so that a test sees whether the code closed its streams itself; closed on exit. (Enter it in
    the test body: the loop resets the hooks each time a fixture or test step starts.)"""
    abandoned: list[AsyncGenerator[Any, None]] = []
    hooks = sys.get_asyncgen_hooks()
    sys.set_asyncgen_hooks(firstiter=hooks.firstiter, finalizer=abandoned.append)
    try:
        yield abandoned
    finally:
        sys.set_asyncgen_hooks(*hooks)
        for generator in abandoned:
            await generator.aclose()


async def test_leaving_the_loop_early_closes_the_llm_stream(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(content="word " * 200, chunk_delay=0.02))
    async with abandoned_generators():  # the stream must be closed by the loop, not by the GC
        async with aclosing(run_agent(client, USER)) as events:
            async for event in events:
                if isinstance(event, LLMChunk) and event.content:
                    break
        (record,) = await llm.wait_for(lambda reqs: reqs and reqs[0].finished, timeout=1)
    assert record.outcome == "disconnected"


async def test_cancelling_the_consumer_cancels_tool_calls(
    llm: ScriptedLLM, client: LLMClient, manager: MCPManager, box: MCPToolSet
) -> None:
    token = uuid.uuid4().hex
    llm.script(Reply(tool_calls=[call("wait_for_cancel", {"token": token, "seconds": 30})]))
    seen: list[AgentEvent] = []

    async def state() -> str:
        return (await manager.call_tool("box", "call_state", {"token": token})).text

    async def consume() -> None:
        async with aclosing(run_agent(client, USER, tools=box)) as events:
            async for event in events:
                seen.append(event)

    async with anyio.create_task_group() as group:
        group.start_soon(consume)
        with anyio.fail_after(5):
            while await state() != "running":
                await anyio.sleep(0.02)
        cancelled_at = time.monotonic()
        group.cancel_scope.cancel()
    assert time.monotonic() - cancelled_at < 1.0
    with anyio.fail_after(5):
        while await state() != "cancelled":
            await anyio.sleep(0.05)
    assert not only(seen, ToolResult) and not only(seen, AgentFinished)
    assert len(llm.requests) == 1


# --- MCP tool sets ---------------------------------------------------------------------------------


async def test_mcp_tool_set_reports_servers_without_tools(manager: MCPManager) -> None:
    tools = await MCPToolSet.when_ready(manager, ["box", "off", "box"])
    assert tools.server_names == ["box", "off"] and tools.unavailable_servers == ["off"]
    names = [schema["function"]["name"] for schema in tools.schemas()]
    assert "echo" in names and not any("__" in name for name in names)
    assert (await tools.call("echo", {"text": "direct"})).text == "direct"
    missing = await tools.call("no_such_tool", {})
    assert missing.is_error and missing.text.startswith("Error: ")
    with pytest.raises(UnknownServerError):
        MCPToolSet(manager, ["missing"])
