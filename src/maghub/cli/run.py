"""``maghub run GRAPH INPUT``: run a graph in this process, with the data dir's models, MCP servers
and graphs (no server needed), showing each node's progress as it happens.

Progress goes to stderr and the graph's final result to stdout, so ``maghub run g "x" > result.txt``
keeps just the result; ``--json`` prints every event as one JSON line on stdout instead. Runs are
stored like the server's: ``--conversation ID`` continues one, whichever started it. Exit status: 0
completed, 1 failed or cancelled (Ctrl-C cancels the run cleanly), 2 bad input.
"""

from __future__ import annotations

import abc
import asyncio
import json
import re
import shlex
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from maghub.cli.support import err, fail, load_settings, out
from maghub.graphs.running.events import (
    NodeChunk,
    NodeFailed,
    NodeFinished,
    NodeNotice,
    NodeQueued,
    NodeStarted,
    NodeToolProgress,
    NodeToolResult,
    RunEvent,
    RunFinished,
    RunStarted,
)
from maghub.graphs.running.state import RunStatus
import contextlib

if TYPE_CHECKING:
    from maghub.graphs.running.runs import ExecuteRequest, LiveRun
    from maghub.service.runtime import Runtime
    from maghub.settings import Settings

TOOL_RESULT_PREVIEW_CHARS = 160


def run(
    graph: Annotated[str, typer.Argument(metavar="GRAPH", help="The graph to run.")],
    input_text: Annotated[
        str | None, typer.Argument(metavar="INPUT", help="What the graph should work on; - reads standard input.")
    ] = None,
    conversation: Annotated[
        str | None,
        typer.Option(
            "--conversation",
            "-c",
            help="Continue this run's conversation: a new turn with INPUT, or --resume (an unused id starts one).",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Resume the interrupted turn of --conversation; finished nodes do not rerun."),
    ] = False,
    interleaved: Annotated[
        bool, typer.Option("--interleaved", help="Show parallel nodes' events as they happen, not node by node.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per event on stdout, for scripts.")
    ] = False,
    user: Annotated[
        str | None, typer.Option("--user", help="Who the run belongs to \\[default: default_user, as the web client].")
    ] = None,
    log_level: Annotated[str, typer.Option(help="Level of maghub's log lines on stderr.")] = "warning",
    data_dir: Annotated[Path | None, typer.Option(help="Data directory \\[env MAGHUB_DATA_DIR].")] = None,
    database_url: Annotated[str | None, typer.Option(help="Database URL \\[env MAGHUB_DATABASE_URL].")] = None,
) -> None:
    """Run a graph here, in this process, with live progress per node."""
    text = _input(input_text, conversation, resume)
    settings = load_settings(data_dir=data_dir, database_url=database_url, log_level=log_level)
    # Imported here, after the checks above: the server's modules take seconds to load.
    from maghub.chat.service import DEFAULT_USER
    from maghub.errors import MaghubError
    from maghub.graphs.running.runs import ExecuteRequest
    from maghub.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    request = ExecuteRequest(
        graph_name=graph,
        input_text=text,
        user_id=(user or "").strip() or DEFAULT_USER,
        conversation_id=conversation,
        continue_from_checkpoint=resume,
    )
    view: EventView = JsonLines() if json_output else ProgressView(err, out, interleaved=interleaved)
    try:
        status = asyncio.run(_run(settings, request, view, interleaved))
    except MaghubError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(0 if status == RunStatus.COMPLETED else 1)


def _input(input_text: str | None, conversation: str | None, resume: bool) -> str | None:
    if resume:
        if not conversation:
            raise fail("--resume needs --conversation ID: the run to resume.")
        if input_text is not None:
            raise fail("--resume continues the interrupted turn with its own input; leave out INPUT.")
        return None
    if input_text is None:
        raise fail('INPUT is missing: say what the graph should work on, e.g. maghub run GRAPH "the topic".')
    text = sys.stdin.read() if input_text == "-" else input_text
    if not text.strip():
        raise fail("INPUT is empty: say what the graph should work on.")
    return text


async def _run(settings: Settings, request: ExecuteRequest, view: EventView, interleaved: bool) -> str:
    """Start the runtime and the run, show its events; answers the run's final status.

    Ctrl-C stops the run, which is then stored as cancelled, instead of killing the process in the
    middle of a write. Pressed while maghub starts, it takes effect once startup is done: cancelling
    startup halfway could leave MCP server processes behind."""
    from maghub.graphs.running.ordering import per_node_blocks
    from maghub.service.runtime import Runtime

    live: LiveRun | None = None
    interrupted = False

    def on_interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        view.interrupted()
        if live is not None:
            live.stop(RunStatus.CANCELLED, "cancelled with Ctrl-C")

    loop = asyncio.get_running_loop()
    # Loops without signal support: Ctrl-C stays KeyboardInterrupt.
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
    try:
        # Only the MCP servers the graph uses start: others cost processes and time, and their
        # failures would interrupt the progress shown.
        runtime = await Runtime.start(settings, connect_mcp=False)
        try:
            if interrupted:
                view.stopped_before_start()
                return RunStatus.CANCELLED
            await _connect_servers_of(runtime, request.graph_name)
            live = await runtime.runs.start(request)
            if interrupted:
                live.stop(RunStatus.CANCELLED, "cancelled with Ctrl-C")
            return await _follow(live.events() if interleaved else per_node_blocks(live.events()), view)
        finally:
            await runtime.aclose()
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)


async def _connect_servers_of(runtime: Runtime, graph_name: str | None) -> None:
    """Start connecting the enabled MCP servers of the graph and its subgraphs (in the background:
    each node waits for its own servers)."""
    from maghub.errors import MaghubError

    if not graph_name:
        return
    try:
        graph = await runtime.graphs.load_for_run(graph_name)
    except MaghubError:
        return  # the run's start says what is wrong with the graph
    manager = runtime.mcp.manager
    configured = {config.name: config for config in manager.configs()}
    for name in sorted(graph.mcp_server_names()):
        if name in configured and configured[name].enabled:
            await manager.connect(name, wait=False)


async def _follow(events: AsyncIterator[RunEvent], view: EventView) -> str:
    status = RunStatus.INTERRUPTED  # unless the run reports how it ended
    async for event in events:
        view.show(event)
        if isinstance(event, RunFinished):
            status = event.status
    return status


class EventView(abc.ABC):
    @abc.abstractmethod
    def show(self, event: RunEvent) -> None: ...

    def interrupted(self) -> None:
        err.print("Ctrl-C: cancelling…", highlight=False)

    def stopped_before_start(self) -> None:
        err.print("[red]Cancelled before the run started.[/]", highlight=False)


class JsonLines(EventView):
    """``{"event": "node_started", ...the event's fields}`` per line; event names are the snake_case
    names of :mod:`maghub.graphs.running.events` (run_started, node_started, node_chunk, node_tool_progress,
    node_tool_result, node_finished, node_failed, run_finished)."""

    def show(self, event: RunEvent) -> None:
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(event).__name__).lower()
        sys.stdout.write(json.dumps({"event": name, **asdict(event)}, ensure_ascii=False) + "\n")
        sys.stdout.flush()


class ProgressView(EventView):
    """Readable progress on ``progress``, the final result alone on ``result``."""

    def __init__(self, progress: Console, result: Console, *, interleaved: bool) -> None:
        self._progress = progress
        self._result = result
        self._interleaved = interleaved
        self._streaming: int | None = None  # the execution whose text the current line holds
        self._tool_names: dict[str, str] = {}
        self._conversation = ""
        self._graph = ""

    def show(self, event: RunEvent) -> None:
        if isinstance(event, NodeChunk):
            self._remember_tool_calls(event.chunk)
            if event.content:
                self._stream(event.execution, event.node, event.content)
            return
        self._end_line()
        if isinstance(event, RunStarted):
            self._graph, self._conversation = event.graph_name, event.conversation_id
            turn = "new conversation" if event.created else f"turn {event.turn}"
            self._say(f"[bold]{escape(event.graph_name)}[/] · {turn} [dim]{escape(event.conversation_id)}[/]")
        elif isinstance(event, NodeStarted):
            self._say(f"[bold cyan]▶ {escape(event.node)}[/] [dim](level {event.level})[/]")
        elif isinstance(event, NodeToolResult):
            name = self._tool_names.get(str(event.message.get("tool_call_id")), "tool")
            self._say(f"  [dim]↳ {escape(name)}: {escape(_preview(str(event.message.get('content') or '')))}[/]")
        elif isinstance(event, NodeToolProgress):
            self._say(f"  [dim]⋯ {escape(_progress_line(event))}[/]")
        elif isinstance(event, NodeNotice):
            self._say(f"  [yellow]! {escape(event.message)}[/]")
        elif isinstance(event, NodeQueued):
            self._say(
                f"  [dim]⏸ {escape(event.node)} queued: {event.limit} call(s) to {escape(event.model)} "
                "already running (its max_concurrency)[/]"
            )
        elif isinstance(event, NodeFinished):
            handoff = f" → {escape(event.transfer)}" if event.transfer else ""
            self._say(f"[green]✓ {escape(event.node)}[/]{handoff}")
        elif isinstance(event, NodeFailed):
            self._say(f"[red]✗ {escape(event.node)}: {escape(event.message)}[/]")
        elif isinstance(event, RunFinished):
            self._finished(event)

    def _finished(self, event: RunFinished) -> None:
        if event.status == RunStatus.COMPLETED:
            self._progress.rule("[green]result[/]", align="left")
            self._result.print(event.final_result, markup=False, highlight=False, emoji=False)
            return
        reason = f": {escape(event.error)}" if event.error else ""
        self._say(f"[bold red]Run {event.status}{reason}[/]")
        self._say(
            f"[dim]Resume it with: maghub run {escape(shlex.quote(self._graph))} "
            f"--conversation {escape(shlex.quote(self._conversation))} --resume[/]"
        )

    def _stream(self, execution: int, node: str, text: str) -> None:
        if self._streaming != execution:
            self._end_line()
            self._streaming = execution
            self._tag(node)
        for index, piece in enumerate(text.split("\n")):
            if index:
                self._progress.print()
                self._tag(node)
            self._progress.print(piece, end="", markup=False, highlight=False, emoji=False)

    def _tag(self, node: str) -> None:
        """Interleaved output: every line says whose it is."""
        if self._interleaved:
            self._progress.print(f"[dim]{escape(node)} │[/] ", end="", highlight=False)

    def _end_line(self) -> None:
        if self._streaming is not None:
            self._progress.print()
            self._streaming = None

    def _say(self, markup: str) -> None:
        self._progress.print(markup, highlight=False)

    def _remember_tool_calls(self, chunk: dict[str, Any]) -> None:
        """Tool results carry only the call's id; the name came in the streamed tool call."""
        for choice in chunk.get("choices") or []:
            for call in (choice.get("delta") or {}).get("tool_calls") or []:
                name = (call.get("function") or {}).get("name")
                if call.get("id") and name:
                    self._tool_names[call["id"]] = name


def _progress_line(event: NodeToolProgress) -> str:
    update = event.progress.progress
    amount = f"{update.progress:g}/{update.total:g}" if update.total is not None else f"{update.progress:g}"
    message = f" {update.message}" if update.message else ""
    return f"{update.tool} ({update.server}): {amount}{message}"


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= TOOL_RESULT_PREVIEW_CHARS else flat[: TOOL_RESULT_PREVIEW_CHARS - 1] + "…"
