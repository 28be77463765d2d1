"""Answering the tool calls of one assistant turn.

Ordinary calls run concurrently; transfers are decided after them (SPEC §6 Handoffs: the first valid
transfer wins); results come back in call order; every call is answered — a call that cannot run
(unknown name, arguments that are not a JSON object) gets an ``Error: …`` result instead of being
dropped, so the next request never carries an unanswered tool call (the original's provider 400s).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from maghub.agent.events import ToolCallProgress, ToolResult, ToolResultKind, Transfer
from maghub.agent.offer import ToolOffer
from maghub.agent.toolsets import ToolOutcome, ToolSet
from maghub.agent.transfers import TRANSFER_PREFIX, TransferTarget, transfer_note
from maghub.mcp.progress import listening
from maghub.mcp.results import error_text

log = logging.getLogger(__name__)

_JSON_TYPE_NAMES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}
# Enough names for a model to correct a misspelt call without flooding it.
MAX_NAMES_IN_ERRORS = 20


@dataclass(frozen=True, slots=True)
class TurnAnswers:
    results: list[ToolResult]
    """One per tool call, in call order."""
    transfer: Transfer | None


@dataclass(slots=True)
class _Call:
    """One tool call as the loop understood it."""

    id: str
    name: str
    kind: ToolResultKind
    arguments: dict[str, Any] | None = None
    tool_set_name: str = ""  # kind "tool"
    target: TransferTarget | None = None  # a valid transfer
    outcome: ToolOutcome | None = None  # known without running anything, or once run


async def answer_tool_calls(
    tool_calls: Sequence[dict[str, Any]],
    offer: ToolOffer,
    tools: ToolSet | None,
    *,
    call_index: int,
    refusal: str | None = None,
    on_progress: Callable[[ToolCallProgress], None] | None = None,
) -> TurnAnswers:
    """Run and answer ``tool_calls`` (OpenAI wire form). Cancelling the caller cancels the calls
    still running. With ``refusal``, ordinary calls are answered with it instead of being run
    (transfers are still decided: they are decisions, nothing runs). ``on_progress`` gets the
    progress notifications of the calls while they run."""
    calls = [_understand(call, offer) for call in tool_calls]
    if refusal is not None:
        for call in calls:
            if call.kind == "tool":
                call.kind, call.outcome = "rejected", _failure(refusal)
    runnable = [call for call in calls if call.kind == "tool"]
    if runnable:
        assert tools is not None  # the offer only has ordinary names when there is a tool set
        async with anyio.create_task_group() as group:
            for call in runnable:
                group.start_soon(_run, tools, call, on_progress)
    transfer = _decide_transfers(calls)
    return TurnAnswers([_result(call, call_index) for call in calls], transfer)


def _understand(raw: dict[str, Any], offer: ToolOffer) -> _Call:
    call = _Call(_call_id(raw), _call_name(raw), "rejected")
    arguments = _parse_arguments((raw.get("function") or {}).get("arguments"))
    if (target := offer.transfer_target(call.name)) is not None:
        # The decision is in the name: a transfer with broken arguments still counts, without a note.
        call.kind, call.target = "transfer", target
        call.arguments = arguments if isinstance(arguments, dict) else None
    elif (tool_set_name := offer.tool_set_name(call.name)) is not None:
        if isinstance(arguments, str):
            call.outcome = _failure(f"the arguments for {call.name!r} {arguments}; call it again with a JSON object")
        else:
            call.kind, call.tool_set_name, call.arguments = "tool", tool_set_name, arguments
    elif call.name.startswith(TRANSFER_PREFIX):  # checked after the tools: a renamed tool may start so too
        call.kind = "transfer"
        call.outcome = _failure(_not_a_target(call.name.removeprefix(TRANSFER_PREFIX), offer.transfer_targets))
    else:
        call.outcome = _failure(_unknown_tool(call.name, offer.names))
    return call


async def _run(tools: ToolSet, call: _Call, on_progress: Callable[[ToolCallProgress], None] | None) -> None:
    assert call.arguments is not None
    try:
        if on_progress is None:
            call.outcome = await tools.call(call.tool_set_name, call.arguments)
        else:
            with listening(lambda progress: on_progress(ToolCallProgress(call.id, progress))):
                call.outcome = await tools.call(call.tool_set_name, call.arguments)
    except Exception:  # a tool set's bug must not leave the call unanswered (cancellation still propagates)
        log.exception("tool call failed unexpectedly", extra={"tool": call.tool_set_name})
        call.outcome = _failure(f"the tool {call.name!r} failed unexpectedly")


def _decide_transfers(calls: Sequence[_Call]) -> Transfer | None:
    chosen: Transfer | None = None
    for call in calls:
        if call.target is None:
            continue
        if chosen is None:
            chosen = Transfer(call.target.name, call.id, transfer_note(call.arguments))
            call.outcome = ToolOutcome(f"Transferred to {call.target.name}.")
        else:
            call.outcome = _failure(
                f"not transferred to {call.target.name!r}: this turn already transferred to {chosen.target!r} "
                "(only the first transfer counts)"
            )
    return chosen


def _result(call: _Call, call_index: int) -> ToolResult:
    assert call.outcome is not None  # every call is answered by now
    outcome = call.outcome
    return ToolResult(
        call.id, call.name, outcome.text, outcome.is_error, call.kind, call_index, outcome.images, outcome.usage
    )


def _parse_arguments(text: Any) -> dict[str, Any] | str:
    """The arguments object, or what is wrong with it (phrased to follow "the arguments for X")."""
    if not isinstance(text, str) or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"are not valid JSON ({exc.msg} at character {exc.pos})"
    if value is None:  # some models send "null" for a tool without parameters
        return {}
    if not isinstance(value, dict):
        return f"must be a JSON object, not {_JSON_TYPE_NAMES.get(type(value), 'a scalar')}"
    return value


def _unknown_tool(name: str, offered: Sequence[str]) -> str:
    if not name:
        return "the tool call has no tool name"
    return f"there is no tool named {name!r}; available tools: {_listing(offered)}"


def _not_a_target(target: str, targets: Sequence[str]) -> str:
    if not targets:
        return f"cannot transfer to {target!r}: no transfers are available now"
    return f"cannot transfer to {target!r}: it is not a transfer target here; targets: {_listing(targets)}"


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES_IN_ERRORS]) or "none"
    return shown + (", …" if len(names) > MAX_NAMES_IN_ERRORS else "")


def _failure(message: str) -> ToolOutcome:
    return ToolOutcome(error_text(message), is_error=True)


def _call_id(call: dict[str, Any]) -> str:
    return str(call.get("id") or "")


def _call_name(call: dict[str, Any]) -> str:
    return str((call.get("function") or {}).get("name") or "")
