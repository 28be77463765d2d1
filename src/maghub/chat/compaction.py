"""Compaction of a chat's stored rounds (reference §1.8), brutal or precise.

Both work on rounds as stored: ``list[list[dict]]``, each round the OpenAI-style messages of one
turn (``role``, ``content``, and ``reasoning_content``, ``tool_calls``, ``tool_call_id`` where they
apply). Neither modifies its input; both return a :class:`CompactionResult` whose ``changed`` says
whether there is anything to store. Differences from the original MAG:

- brutal never keeps a tool call without its result (a round cut off at the call limit used to
  leave one, which providers reject in every later request);
- precise summarises concurrently (bounded) and never summarises a summary again, so running it
  twice changes nothing the second time;
- nothing to compact is a normal outcome (``changed`` False, zero savings), never an error;
- statistics add estimated token counts (:mod:`maghub.chat.tokens`) and the summarisation usage.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import anyio

from maghub.chat.language import is_mostly_chinese
from maghub.chat.tokens import estimate_message_tokens, message_text
from maghub.llm.errors import LLMError
from maghub.usage import Usage

if TYPE_CHECKING:
    from maghub.llm.client import LLMClient  # imports the openai SDK: only when a model is called

__all__ = [
    "DEFAULT_CONCURRENCY",
    "SUMMARY_PREFIX",
    "TRUNCATED_PREFIX",
    "CompactionResult",
    "Rounds",
    "SummarisationFailed",
    "Summariser",
    "Summary",
    "brutal_compact",
    "make_llm_summariser",
    "precise_compact",
]

log = logging.getLogger(__name__)

Rounds: TypeAlias = list[list[dict[str, Any]]]

# The markers the original MAG writes, kept so that conversations compacted by it are recognised.
SUMMARY_PREFIX = "[已总结] "
TRUNCATED_PREFIX = "[总结失败，已截断] "
TRUNCATED_KEEP_CHARS = 200
DEFAULT_CONCURRENCY = 4
# The longest tool output sent to the summariser: a bigger one would overflow many models' context,
# and a summary of its beginning beats the 200-character cut that a refused request ends in.
MAX_SUMMARY_INPUT_CHARS = 30_000

_SUMMARY_PROMPT_ZH = """请总结下面这段工具调用返回的内容。
保留关键的数据、事实、结论，以及后续可能用到的细节（名称、数字、路径、链接、错误信息），去掉冗余和重复的部分。
直接输出总结，不要加开场白。

{content}"""

_SUMMARY_PROMPT_EN = """Summarise the tool output below.
Keep the key data, facts and conclusions, and the details that may be needed later (names, numbers,
paths, links, error messages); drop redundant and repeated parts.
Answer with the summary only, no preamble.

{content}"""


@dataclass(frozen=True, slots=True)
class Summary:
    """A summariser's answer; ``usage`` is None when the provider reported none."""

    text: str
    usage: Usage | None = None


class SummarisationFailed(Exception):
    """Raised by a summariser that could not summarise; the content is truncated instead."""


Summariser: TypeAlias = Callable[[str], Awaitable[Summary]]
"""Summarises one tool output; raises :class:`SummarisationFailed` when it cannot."""


@dataclass(frozen=True, slots=True)
class CompactionResult:
    """The compacted rounds (new objects) and what compaction did.

    ``statistics`` is JSON-ready: the original MAG's ``original_rounds``, ``original_messages``,
    ``compacted_rounds``, ``compacted_messages``, ``compression_ratio`` (1 - compacted/original
    message counts, 3 decimals) and ``tool_contents_summarized``; ``tool_contents_truncated``
    (summaries that failed); the API doc's ``original_tokens``, ``compressed_tokens`` (estimates)
    and ``reduction_rate`` (their saving as a percentage string, e.g. ``"60%"`` or ``"12.5%"``);
    and ``usage`` (summed summarisation usage, as ``{prompt_tokens, completion_tokens, total_tokens}``).
    """

    rounds: Rounds
    changed: bool
    statistics: dict[str, Any]
    usage: Usage


def brutal_compact(rounds: Sequence[Sequence[Mapping[str, Any]]]) -> CompactionResult:
    """Keep, per round, its first system message, its first user message and its final answer.

    The final answer is the last assistant message without tool calls. A round that has none (it
    ended at the call limit or was interrupted) keeps the text of its last assistant message that
    has text, without the tool calls, since their results are dropped. Rounds left empty are dropped.
    """
    original = _copy(rounds)
    compacted = [kept for messages in original if (kept := _brutal_round(messages))]
    return _result(original, compacted, summarized=0, truncated=0, usage=Usage())


async def precise_compact(
    rounds: Sequence[Sequence[Mapping[str, Any]]],
    summarise: Summariser,
    *,
    threshold: int,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> CompactionResult:
    """Replace every tool output of at least ``threshold`` characters by a summary.

    Summaries run concurrently, at most ``concurrency`` at a time. A summary is stored as
    ``SUMMARY_PREFIX + summary``; when the summariser fails (or answers nothing), the output is cut
    to its first 200 characters after ``TRUNCATED_PREFIX``. Contents carrying either prefix are
    never summarised again. Everything else is kept as it is.
    """
    if threshold < 1:
        raise ValueError("threshold must be at least 1 character")
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    original = _copy(rounds)
    compacted = _copy(original)
    targets = [message for messages in compacted for message in messages if _needs_summary(message, threshold)]
    summaries: list[Summary | None] = [None] * len(targets)
    limiter = anyio.CapacityLimiter(concurrency)

    async def summarise_one(index: int, text: str) -> None:
        async with limiter:
            try:
                summary = await summarise(text)
            except SummarisationFailed as exc:
                log.warning("summarising a tool output failed, truncating it", extra={"error": str(exc)})
                return
            if not summary.text.strip():
                log.warning("the summariser answered nothing, truncating the tool output")
            summaries[index] = summary

    async with anyio.create_task_group() as tasks:
        for index, message in enumerate(targets):
            tasks.start_soon(summarise_one, index, message_text(message))

    usage = Usage()
    summarized = 0
    for message, summary in zip(targets, summaries, strict=True):
        if summary is not None:
            usage += summary.usage or Usage()  # spent even when the answer was empty
        if summary is not None and summary.text.strip():
            message["content"] = SUMMARY_PREFIX + summary.text.strip()
            summarized += 1
        else:
            text = message_text(message)
            cut = text[:TRUNCATED_KEEP_CHARS]
            message["content"] = TRUNCATED_PREFIX + cut + ("..." if len(cut) < len(text) else "")
    return _result(original, compacted, summarized=summarized, truncated=len(targets) - summarized, usage=usage)


def make_llm_summariser(llm: LLMClient, *, max_input_chars: int = MAX_SUMMARY_INPUT_CHARS) -> Summariser:
    """A :data:`Summariser` asking ``llm``, with a Chinese or English prompt as the output is written.

    One user message per output; the call streams only if the model is configured to
    (:meth:`LLMClient.complete`), and ``<think>`` parts are removed from the answer. Outputs longer
    than ``max_input_chars`` are cut before sending, with a note saying so.
    """

    async def summarise(text: str) -> Summary:
        template = _SUMMARY_PROMPT_ZH if is_mostly_chinese(text) else _SUMMARY_PROMPT_EN
        if len(text) > max_input_chars:
            text = f"{text[:max_input_chars]}\n[… first {max_input_chars} of {len(text)} characters]"
        try:
            result = await llm.complete([{"role": "user", "content": template.format(content=text)}])
        except LLMError as exc:
            raise SummarisationFailed(str(exc)) from exc
        return Summary(result.text, result.usage)

    return summarise


def _copy(rounds: Sequence[Sequence[Mapping[str, Any]]]) -> Rounds:
    return [[dict(message) for message in messages] for messages in rounds]


def _brutal_round(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    system = next((m for m in messages if m.get("role") == "system"), None)
    user = next((m for m in messages if m.get("role") == "user"), None)
    return [m for m in (system, user, _final_answer(messages)) if m is not None]


def _final_answer(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    assistants = [m for m in reversed(messages) if m.get("role") == "assistant"]
    for message in assistants:
        if not message.get("tool_calls"):
            return message
    for message in assistants:
        if message_text(message).strip():
            return {key: value for key, value in message.items() if key != "tool_calls"}
    return None


def _needs_summary(message: Mapping[str, Any], threshold: int) -> bool:
    if message.get("role") != "tool":
        return False
    text = message_text(message)
    return len(text) >= threshold and not text.startswith((SUMMARY_PREFIX, TRUNCATED_PREFIX))


def _result(original: Rounds, compacted: Rounds, *, summarized: int, truncated: int, usage: Usage) -> CompactionResult:
    original_messages = sum(map(len, original))
    compacted_messages = sum(map(len, compacted))
    original_tokens = _tokens(original)
    compressed_tokens = _tokens(compacted)
    statistics = {
        "original_rounds": len(original),
        "original_messages": original_messages,
        "compacted_rounds": len(compacted),
        "compacted_messages": compacted_messages,
        "compression_ratio": round(_saving(original_messages, compacted_messages), 3),
        "tool_contents_summarized": summarized,
        "tool_contents_truncated": truncated,
        "original_tokens": original_tokens,
        "compressed_tokens": compressed_tokens,
        "reduction_rate": _percent(_saving(original_tokens, compressed_tokens)),
        "usage": dataclasses.asdict(usage),
    }
    return CompactionResult(compacted, compacted != original, statistics, usage)


def _tokens(rounds: Rounds) -> int:
    return sum(estimate_message_tokens(message) for messages in rounds for message in messages)


def _saving(before: int, after: int) -> float:
    return 1 - after / before if before else 0.0


def _percent(fraction: float) -> str:
    """``0.6`` → ``"60%"``, ``0.125`` → ``"12.5%"`` (the API doc's format)."""
    text = f"{fraction * 100:.1f}".removesuffix(".0")
    return f"{'0' if text == '-0' else text}%"
