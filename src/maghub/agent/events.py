"""What :func:`maghub.agent.run_agent` yields while it runs.

Plain values, no transport encoding: the HTTP layer turns them into SSE, the graph engine and chat
persist them. Each completed LLM call (:class:`AssistantTurn`) and each tool result
(:class:`ToolResult`) is its own event so that a caller can store it the moment it exists (SPEC §6
Durability), and the last event is always exactly one :class:`AgentFinished` or :class:`AgentFailed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from maghub.llm.errors import LLMErrorKind
from maghub.mcp.progress import ToolProgress
from maghub.mcp.results import ToolImage
from maghub.usage import Usage

StopReason: TypeAlias = Literal["completed", "max_llm_calls", "transfer"]
"""Why a run finished: the model answered without tool calls; the call limit was reached; or the
model handed off with a transfer tool."""

ToolResultKind: TypeAlias = Literal["tool", "transfer", "rejected"]
"""``tool``: the tool set ran the call (successfully or not). ``transfer``: a ``transfer_to_*``
call, chosen or not. ``rejected``: the loop answered it without running anything (unknown tool,
arguments that are not a JSON object, or the call limit)."""


@dataclass(frozen=True, slots=True)
class LLMChunk:
    """One streamed chunk exactly as the provider sent it (fit to relay verbatim), plus the text
    it adds, so that consumers printing text need not dig into it."""

    chunk: dict[str, Any]
    call_index: int
    """Which LLM call of the run (0-based) the chunk belongs to."""
    content: str = ""
    reasoning: str = ""


@dataclass(frozen=True, slots=True)
class LLMQueued:
    """LLM call ``call_index`` waits for a slot of its model (its ``max_concurrency`` of ``limit``
    calls at once are all taken); its chunks follow once it has one."""

    call_index: int
    model: str
    limit: int


@dataclass(frozen=True, slots=True)
class AssistantTurn:
    """A completed LLM call: the assistant message, ready to store."""

    message: dict[str, Any]
    """OpenAI wire form ``{"role": "assistant", "content", "tool_calls"?}``, without reasoning
    (providers such as DeepSeek refuse requests that send it back)."""
    reasoning: str | None
    usage: Usage | None
    """None when the provider reported no usage for this call."""
    call_index: int
    finish_reason: str | None
    tools_withheld: bool = False
    """True for the last call allowed by ``max_llm_calls``, made with ``tool_choice: "none"``."""

    @property
    def content(self) -> str:
        return self.message.get("content") or ""

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        return self.message.get("tool_calls") or []

    @property
    def stored_message(self) -> dict[str, Any]:
        """The message with ``reasoning_content`` (when there is any), as conversations keep it."""
        if not self.reasoning:
            return self.message
        return {**self.message, "reasoning_content": self.reasoning}


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The answer to one tool call. Every tool call of every turn gets exactly one."""

    tool_call_id: str
    name: str
    """The tool name as the model called it."""
    content: str
    """What the model reads; errors read ``Error: …``."""
    is_error: bool
    kind: ToolResultKind
    call_index: int
    """The LLM call whose tool call this answers."""
    images: tuple[ToolImage, ...] = ()
    """Images the tool returned; ``content`` names them. Shown to models that read images, once."""
    usage: Usage | None = None
    """Tokens spent serving the call's sampling requests (counted on the conversation)."""

    @property
    def message(self) -> dict[str, Any]:
        """The ``{"role": "tool", "tool_call_id", "content"}`` message appended to the conversation
        (also the original MAG's SSE event for a tool result)."""
        return {"role": "tool", "tool_call_id": self.tool_call_id, "content": self.content}


@dataclass(frozen=True, slots=True)
class ToolCallProgress:
    """A progress notification of a tool call still running (relayed, never stored)."""

    tool_call_id: str
    progress: ToolProgress


@dataclass(frozen=True, slots=True)
class Transfer:
    """The handoff a run ended with."""

    target: str
    """The target's name as given in :class:`~maghub.agent.transfers.TransferTarget`."""
    tool_call_id: str
    message: str
    """The note the model passed in the transfer's ``message`` argument ("" if none)."""


@dataclass(frozen=True, slots=True)
class AgentFinished:
    """The run's end. ``messages_added`` are every assistant and tool message of the run, in
    order, assistant messages in stored form (with ``reasoning_content``): what a caller appends to
    its conversation. Every tool call in them has its tool message."""

    output: str
    """The final assistant text; after a transfer whose turn has no text, the transfer's note."""
    tool_output: str
    """The non-empty results of the tool calls the tool set ran (kind ``tool``, errors included),
    joined by newlines: a graph node's output under ``output_enabled: false``."""
    messages_added: list[dict[str, Any]]
    usage: Usage
    """Summed over the run's calls; calls without usage count as zero (see ``calls_without_usage``)."""
    llm_calls: int
    stop_reason: StopReason
    transfer: Transfer | None = None
    calls_without_usage: int = 0


@dataclass(frozen=True, slots=True)
class AgentFailed:
    """The run ended because an LLM call failed. Everything completed before the failure is in
    ``messages_added`` (a consistent history: no unanswered tool calls); the failed call's streamed
    text, which was relayed but never completed, is in ``partial_content``."""

    message: str
    """The LLM error's message, fit for users (names the model, says what to check)."""
    kind: LLMErrorKind
    status_code: int | None
    messages_added: list[dict[str, Any]]
    usage: Usage
    llm_calls: int
    """Calls made, the failed one included."""
    partial_content: str = ""
    tool_output: str = ""
    calls_without_usage: int = 0


AgentEvent: TypeAlias = (
    LLMQueued | LLMChunk | AssistantTurn | ToolCallProgress | ToolResult | AgentFinished | AgentFailed
)
