"""Conversation compaction (reference §1.8, weaknesses fixed) and token estimation.

Precise compaction runs the real LLM client against the scripted LLM over HTTP.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from maghub.chat.compaction import (
    SUMMARY_PREFIX,
    TRUNCATED_PREFIX,
    CompactionResult,
    Summary,
    brutal_compact,
    make_llm_summariser,
    precise_compact,
)
from maghub.chat.tokens import estimate_message_tokens, estimate_tokens
from maghub.llm.client import LLMClient
from maghub.testing.scripted_llm import RecordedRequest, Reply, ScriptedLLM, last_user_text
from maghub.usage import Usage

Message = dict[str, Any]


def user(text: str) -> Message:
    return {"role": "user", "content": text}


def system(text: str) -> Message:
    return {"role": "system", "content": text}


def assistant(text: str | None, *call_ids: str, reasoning: str | None = None) -> Message:
    message: Message = {"role": "assistant", "content": text}
    if reasoning:
        message["reasoning_content"] = reasoning
    if call_ids:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": "look", "arguments": "{}"}} for call_id in call_ids
        ]
    return message


def tool(call_id: str, text: str) -> Message:
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def assert_tool_calls_paired(rounds: list[list[Message]]) -> None:
    """Every tool call is answered right after its message, and every tool result answers one."""
    history = [message for messages in rounds for message in messages]
    open_calls: set[str] = set()
    for message in history:
        if message["role"] == "tool":
            assert message["tool_call_id"] in open_calls, f"tool result without its call: {message}"
            open_calls.remove(message["tool_call_id"])
            continue
        assert not open_calls, f"tool calls {open_calls} have no result before {message}"
        open_calls = {call["id"] for call in message.get("tool_calls") or ()}
    assert not open_calls, f"tool calls {open_calls} have no result at the end"


# ---- token estimates


def test_token_estimates() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("天气晴") == 3
    assert estimate_tokens("天气 ok，好") == 4 + 1  # 4 CJK characters (the comma is full-width) + " ok"
    assert estimate_message_tokens(user("a" * 8)) == 4 + 2
    assert estimate_message_tokens({"role": "assistant", "content": None}) == 4
    # a tool call: framing 8 + name "look" 1 + arguments "{}" 1
    assert estimate_message_tokens(assistant("", "c1")) == 4 + 8 + 1 + 1
    # reasoning is never sent back, so it costs nothing
    assert estimate_message_tokens(assistant("abcd", reasoning="x" * 400)) == 4 + 1
    parts = {"role": "user", "content": [{"type": "text", "text": "abcd"}, {"type": "image_url"}]}
    assert estimate_message_tokens(parts) == 4 + 1


# ---- brutal

# One round with a tool call, and exact estimates: user 6, assistant+call 14, tool 104, answer 7 = 131.
SMALL_ROUND = [user("a" * 8), assistant("", "c1"), tool("c1", "b" * 400), assistant("天气晴")]


def test_brutal_statistics_are_exact() -> None:
    result = brutal_compact([SMALL_ROUND])
    assert result.changed
    assert result.rounds == [[user("a" * 8), assistant("天气晴")]]
    assert result.statistics == {
        "original_rounds": 1,
        "original_messages": 4,
        "compacted_rounds": 1,
        "compacted_messages": 2,
        "compression_ratio": 0.5,
        "tool_contents_summarized": 0,
        "tool_contents_truncated": 0,
        "original_tokens": 131,
        "compressed_tokens": 13,
        "reduction_rate": "90.1%",
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }
    assert result.usage == Usage()


def test_brutal_keeps_system_user_and_final_answer_in_order() -> None:
    rounds = [
        [
            user("first question"),
            system("be brief"),
            assistant("checking", "c1", "c2"),
            tool("c1", "one"),
            tool("c2", "two"),
            assistant("final", reasoning="because"),
            user("a second user message"),
            system("a second system message"),
        ]
    ]
    before = copy.deepcopy(rounds)
    result = brutal_compact(rounds)
    assert result.rounds == [[system("be brief"), user("first question"), assistant("final", reasoning="because")]]
    assert rounds == before  # the input is left alone
    assert result.rounds[0][2] is not rounds[0][5]


def test_brutal_never_leaves_a_tool_call_without_its_result() -> None:
    rounds = [
        [user("q1"), assistant("calling", "a1"), tool("a1", "r1"), assistant("answer one")],
        # ended at the call limit: the last assistant message still asks for tools
        [user("q2"), assistant("Let me look.", "b1"), tool("b1", "r"), assistant("And more:", "b2"), tool("b2", "r")],
        # the same, but no assistant message has text: only the question survives
        [user("q3"), assistant(None, "c1"), tool("c1", "r"), assistant("", "c2"), tool("c2", "r")],
        # interrupted before the tool answered
        [user("q4"), assistant("one moment", "d1")],
        [tool("e1", "an orphan result")],  # nothing to keep: the round is dropped
        [],
        [user("q5"), assistant("answer five")],
    ]
    result = brutal_compact(rounds)
    assert result.rounds == [
        [user("q1"), assistant("answer one")],
        [user("q2"), assistant("And more:")],
        [user("q3")],
        [user("q4"), assistant("one moment")],
        [user("q5"), assistant("answer five")],
    ]
    assert_tool_calls_paired(result.rounds)
    assert result.statistics["original_rounds"] == 7 and result.statistics["compacted_rounds"] == 5


def test_brutal_twice_reports_unchanged_with_zero_savings() -> None:
    rounds = [
        [system("s"), user("q1"), assistant("x", "a1"), tool("a1", "r" * 500), assistant("answer")],
        [user("q2"), assistant("Let me look.", "b1"), tool("b1", "r")],
    ]
    first = brutal_compact(rounds)
    assert first.changed
    second = brutal_compact(first.rounds)
    assert not second.changed
    assert second.rounds == first.rounds
    stats = second.statistics
    assert stats["original_messages"] == stats["compacted_messages"] == 5
    assert stats["original_tokens"] == stats["compressed_tokens"] == first.statistics["compressed_tokens"]
    assert (stats["compression_ratio"], stats["reduction_rate"]) == (0.0, "0%")


def test_nothing_to_compact_in_an_empty_conversation() -> None:
    result = brutal_compact([])
    assert (result.changed, result.rounds) == (False, [])
    assert result.statistics["compression_ratio"] == 0.0 and result.statistics["reduction_rate"] == "0%"


# ---- precise


OUTPUT_MARKER = re.compile(r"output-\d+")


def summary_of(body: dict) -> Reply:
    """Names the output it summarises (its "output-N" marker), so each summary can be traced back."""
    marker = OUTPUT_MARKER.search(last_user_text(body))
    assert marker is not None, "every long output in these tests starts with its marker"
    return Reply(content=f"summary of {marker.group()}")


def long_output(index: int, length: int = 3000) -> str:
    return f"output-{index}: " + "data " * (length // 5)


def max_overlap(requests: list[RecordedRequest]) -> int:
    """The largest number of requests in progress at the same moment."""
    edges = sorted(
        [(r.received_at, 1) for r in requests] + [(r.finished_at, -1) for r in requests if r.finished_at],
        key=lambda edge: (edge[0], edge[1]),  # at equal times, an end comes before a start
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


async def test_precise_statistics_are_exact(llm: ScriptedLLM, client: LLMClient) -> None:
    usage = {"prompt_tokens": 130, "completion_tokens": 3, "total_tokens": 133}
    llm.script(Reply(content="<think>hmm</think>short summary", usage=usage))
    result = await precise_compact([SMALL_ROUND], make_llm_summariser(client), threshold=100)
    assert result.changed
    summarised = tool("c1", SUMMARY_PREFIX + "short summary")
    assert result.rounds == [[*SMALL_ROUND[:2], summarised, SMALL_ROUND[3]]]
    assert result.statistics == {
        "original_rounds": 1,
        "original_messages": 4,
        "compacted_rounds": 1,
        "compacted_messages": 4,
        "compression_ratio": 0.0,
        "tool_contents_summarized": 1,
        "tool_contents_truncated": 0,
        "original_tokens": 131,
        "compressed_tokens": 6 + 14 + (4 + 3 + 4) + 7,  # "[已总结] short summary": 3 CJK + 16 others
        "reduction_rate": "71%",
        "usage": usage,
    }
    assert result.usage == Usage(130, 3, 133)
    (request,) = llm.requests
    assert not request.stream and request.body["messages"][0]["content"].startswith("Summarise the tool output")


async def test_precise_runs_concurrently_within_the_bound(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.latency = 0.3
    rounds = [
        [user("q1"), assistant("", "a", "b", "c"), tool("a", long_output(0)), tool("b", long_output(1))]
        + [tool("c", long_output(2)), assistant("answer one")],
        [user("q2"), assistant("", "d"), tool("d", long_output(3)), assistant("", "e"), tool("e", long_output(4))]
        + [assistant("", "f", "g"), tool("f", long_output(5)), tool("g", long_output(6)), assistant("answer two")],
    ]
    llm.script(summary_of)
    result = await precise_compact(rounds, make_llm_summariser(client), threshold=2000, concurrency=3)
    assert len(llm.requests) == 7
    assert max_overlap(llm.requests) == 3  # concurrent, and never more than the bound
    summaries = [m["content"] for messages in result.rounds for m in messages if m["role"] == "tool"]
    assert summaries == [f"{SUMMARY_PREFIX}summary of output-{i}" for i in range(7)]
    assert result.statistics["tool_contents_summarized"] == 7
    assert_tool_calls_paired(result.rounds)


async def test_results_go_to_their_own_messages_whatever_order_they_finish_in(
    llm: ScriptedLLM, client: LLMClient
) -> None:
    # The first output's summary is the slowest: it finishes last.
    llm.script(
        lambda body: Reply(content=summary_of(body).content, first_token_delay=0.3), last_user_contains="output-0"
    )
    llm.script(summary_of)
    rounds = [[user("q"), assistant("", *"abc"), *(tool(c, long_output(i)) for i, c in enumerate("abc"))]]
    result = await precise_compact(rounds, make_llm_summariser(client), threshold=1000)
    finished = sorted(llm.requests, key=lambda r: r.finished_at or 0)
    assert "output-0" in last_user_text(finished[-1].body)
    assert [m["content"] for m in result.rounds[0][2:]] == [f"{SUMMARY_PREFIX}summary of output-{i}" for i in range(3)]


async def test_summaries_are_never_summarised_again(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(status=400, error_message="context too long"), last_user_contains="output-1")
    llm.script(lambda body: Reply(content="a long summary " * 100))  # longer than the threshold itself
    rounds = [[user("q"), assistant("", "a", "b"), tool("a", long_output(0)), tool("b", long_output(1))]]
    summarise = make_llm_summariser(client)
    first = await precise_compact(rounds, summarise, threshold=150)
    assert first.changed and len(llm.requests) == 2
    assert first.statistics["tool_contents_summarized"] == 1 and first.statistics["tool_contents_truncated"] == 1
    llm.clear_requests()
    second = await precise_compact(first.rounds, summarise, threshold=150)
    assert llm.requests == []
    assert not second.changed and second.rounds == first.rounds
    assert second.statistics["tool_contents_summarized"] == 0 and second.statistics["reduction_rate"] == "0%"


async def test_a_failed_summary_truncates_the_output(llm: ScriptedLLM, client: LLMClient) -> None:
    llm.script(Reply(status=401, error_message="bad key"), last_user_contains="output-0")
    empty_usage = {"prompt_tokens": 700, "completion_tokens": 1, "total_tokens": 701}
    llm.script(Reply(content="   ", usage=empty_usage), last_user_contains="output-1")  # an empty answer is no summary
    rounds = [[user("q"), assistant("", "a", "b"), tool("a", long_output(0)), tool("b", long_output(1))]]
    result = await precise_compact(rounds, make_llm_summariser(client), threshold=1000)
    for index, message in enumerate(result.rounds[0][2:]):
        assert message["content"] == TRUNCATED_PREFIX + long_output(index)[:200] + "..."
    assert result.changed
    assert result.statistics["tool_contents_summarized"] == 0 and result.statistics["tool_contents_truncated"] == 2
    assert result.usage == Usage(700, 1, 701)  # the empty answer still cost tokens; the refused call none


async def test_nothing_long_enough_is_unchanged(llm: ScriptedLLM, client: LLMClient) -> None:
    rounds = [[user("q"), assistant("", "a"), tool("a", "x" * 999), assistant("y" * 5000)]]
    before = copy.deepcopy(rounds)
    result = await precise_compact(rounds, make_llm_summariser(client), threshold=1000)
    assert llm.requests == []
    assert not result.changed and result.rounds == rounds == before
    stats = result.statistics
    assert (stats["compression_ratio"], stats["reduction_rate"], stats["tool_contents_summarized"]) == (0.0, "0%", 0)


async def test_the_threshold_is_inclusive_and_the_input_untouched(llm: ScriptedLLM, client: LLMClient) -> None:
    rounds = [[user("q"), assistant("", "a", "b"), tool("a", "x" * 1000), tool("b", "x" * 999)]]
    before = copy.deepcopy(rounds)
    result = await precise_compact(rounds, make_llm_summariser(client), threshold=1000)
    assert len(llm.requests) == 1
    assert result.rounds[0][2]["content"].startswith(SUMMARY_PREFIX) and result.rounds[0][3] == rounds[0][3]
    assert rounds == before


async def test_summary_prompt_language_follows_the_output(llm: ScriptedLLM, client: LLMClient) -> None:
    summarise = make_llm_summariser(client)
    await summarise("查询结果：北京明天晴，气温十二到二十二度。" * 20)
    await summarise("Query result: sunny tomorrow in Beijing. " * 20)
    chinese, english = (r.body["messages"] for r in llm.requests)
    assert len(chinese) == len(english) == 1
    assert chinese[0]["content"].startswith("请总结") and english[0]["content"].startswith("Summarise")


async def test_huge_outputs_are_cut_before_summarising(llm: ScriptedLLM, client: LLMClient) -> None:
    summary = await make_llm_summariser(client, max_input_chars=1000)("z" * 50_000)
    assert isinstance(summary, Summary)
    prompt = llm.requests[0].body["messages"][0]["content"]
    assert "z" * 1000 + "\n[… first 1000 of 50000 characters]" in prompt and "z" * 1001 not in prompt


@pytest.mark.parametrize(("threshold", "concurrency"), [(0, 4), (100, 0)])
async def test_invalid_settings_are_refused(client: LLMClient, threshold: int, concurrency: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        await precise_compact([SMALL_ROUND], make_llm_summariser(client), threshold=threshold, concurrency=concurrency)


def test_result_is_a_plain_value() -> None:
    result = brutal_compact([SMALL_ROUND])
    assert isinstance(result, CompactionResult) and isinstance(result.rounds[0][0], dict)
