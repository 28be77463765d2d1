"""``maghub generate graph|tool "requirement"``: design a graph or an MCP tool with a model, in a
conversation with a running maghub (``POST /graphs/generate``, ``POST /mcp/generate``).

The model's reply streams to stdout; then the command asks for the next message: more
requirements continue the design, ``finish`` checks and saves it (printing what is missing or
wrong if it cannot be saved yet), an empty line stops (the conversation can be continued later
with ``--conversation``). Without a terminal, the messages are read from standard input, one a
line. Exit status: 0 saved or stopped, 1 ``--finish`` could not save the design, 2 bad input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Annotated, Any

import httpx2
import typer
from rich.markup import escape

from maghub.cli.http import UrlOption, api_request, server_url
from maghub.cli.support import err, fail, out

FINISH_COMMAND = "<end>END</end>"
FINISH_WORDS = ("finish", "/finish", FINISH_COMMAND.lower())
PROMPT = "Reply to the designer ('finish' checks and saves the design; Enter stops)"

app = typer.Typer(help="Design a graph or an MCP tool with a model, in a conversation.", no_args_is_help=True)

ModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", help="The model that designs [default: 'demo', or the only configured model]."),
]
ConversationOption = Annotated[
    str | None, typer.Option("--conversation", "-c", help="Continue this generation conversation.")
]
FinishOption = Annotated[
    bool, typer.Option("--finish", help="Check and save the design of --conversation now, without a new message.")
]
RequirementArgument = Annotated[
    str | None, typer.Argument(metavar="REQUIREMENT", help="What to design (or the next message of --conversation).")
]


@app.command("graph")
def generate_graph(
    requirement: RequirementArgument = None,
    model: ModelOption = None,
    graph: Annotated[
        str | None, typer.Option("--graph", "-g", help="Improve this existing graph (saved as its next version).")
    ] = None,
    conversation: ConversationOption = None,
    finish: FinishOption = False,
    url: UrlOption = None,
) -> None:
    """Design an agent graph; 'finish' saves it."""
    extra = {"graph_name": graph} if graph else {}
    _converse(
        "/graphs/generate", requirement, model=model, conversation=conversation, finish=finish, url=url, extra=extra
    )


@app.command("tool")
def generate_tool(
    requirement: RequirementArgument = None,
    model: ModelOption = None,
    conversation: ConversationOption = None,
    finish: FinishOption = False,
    url: UrlOption = None,
) -> None:
    """Write an MCP tool; 'finish' installs and registers it."""
    _converse("/mcp/generate", requirement, model=model, conversation=conversation, finish=finish, url=url, extra={})


def _converse(
    path: str,
    requirement: str | None,
    *,
    model: str | None,
    conversation: str | None,
    finish: bool,
    url: str | None,
    extra: dict[str, Any],
) -> None:
    if finish:
        if conversation is None:
            raise fail("--finish needs --conversation: the design to check and save.")
        message: str | None = FINISH_COMMAND
    else:
        message = requirement.strip() if requirement else None
        if not message:
            raise fail('Say what to design, e.g. maghub generate graph "a two-step summariser".')
    while message:
        finishing = message.lower() in FINISH_WORDS
        body: dict[str, Any] = {"requirement": FINISH_COMMAND, **extra}
        if not finishing:
            model = model or _default_model(url)
            body.update(requirement=message, model_name=model)
        if conversation is not None:
            body["conversation_id"] = conversation
        outcome = _send(url, path, body)
        conversation = outcome.conversation_id or conversation
        if outcome.saved:
            return
        if finish and finishing:
            raise typer.Exit(1)
        message = _next_message()
    if conversation:
        err.print(f"Stopped. Continue with --conversation {conversation} (add --finish to save).", highlight=False)


class _Outcome:
    def __init__(self) -> None:
        self.conversation_id: str | None = None
        self.saved = False


def _send(url: str | None, path: str, body: dict[str, Any]) -> _Outcome:
    outcome = _Outcome()
    at_line_start = True
    for event in _events(url, path, body):
        text = _chunk_text(event)
        if text is not None:
            out.print(escape(text), end="", highlight=False)
            at_line_start = text.endswith("\n")
            continue
        if not at_line_start:
            out.print()
            at_line_start = True
        if event.get("type") == "conversation_created":
            outcome.conversation_id = event["conversation_id"]
            err.print(f"[dim]conversation {outcome.conversation_id}[/]", highlight=False)
        elif "completion" in event:
            completion = event["completion"]
            name = completion.get("graph_name") or completion.get("tool_name")
            version = f" (version {completion['version']})" if "version" in completion else ""
            err.print(f"[bold green]Saved[/] {escape(str(name))}{version}: {escape(completion['message'])}")
            for warning in completion.get("warnings") or []:
                err.print(f"  warning: {escape(_problem_text(warning))}", highlight=False)
            outcome.saved = True
        elif "incomplete" in event:
            incomplete = event["incomplete"]
            err.print("[bold yellow]Not saved yet[/]; the design needs more work:")
            for field in incomplete.get("missing_fields") or []:
                err.print(f"  missing: {escape(field)}", highlight=False)
            for problem in incomplete.get("problems") or []:
                err.print(f"  problem: {escape(_problem_text(problem))}", highlight=False)
        elif "error" in event:
            err.print(
                f"[bold red]{escape(event['error'].get('type', 'error'))}:[/] {escape(event['error']['message'])}"
            )
        elif event.get("type") == "notice":
            err.print(f"[yellow]note:[/] {escape(str(event.get('message')))}")
    if not at_line_start:
        out.print()
    return outcome


def _events(url: str | None, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    base = server_url(url)
    try:
        with httpx2.stream("POST", f"{base}{path}", json=body, timeout=httpx2.Timeout(30, read=600)) as response:
            if response.status_code >= 400:
                response.read()
                try:
                    detail = response.json().get("detail", response.text)
                except ValueError:
                    detail = response.text
                raise fail(f"{detail} (HTTP {response.status_code})")
            for line in response.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    yield json.loads(line[len("data: ") :])
    except httpx2.ConnectError:
        raise fail(f"maghub is not running at {base}. Start it with `maghub serve`, or pass --url.") from None
    except httpx2.HTTPError as exc:
        raise fail(f"request to {base}{path} failed: {exc}") from None


def _chunk_text(event: dict[str, Any]) -> str | None:
    if event.get("object") != "chat.completion.chunk":
        return None
    return "".join((choice.get("delta") or {}).get("content") or "" for choice in event.get("choices") or [])


def _problem_text(problem: dict[str, Any]) -> str:
    where = f"node '{problem['node']}', {problem['field']}" if problem.get("node") else problem.get("field", "")
    return f"{where}: {problem.get('message', '')}"


def _next_message() -> str:
    if sys.stdin.isatty():
        return str(typer.prompt(PROMPT, default="", show_default=False)).strip()
    line = sys.stdin.readline()
    return line.strip()


def _default_model(url: str | None) -> str:
    names = [model["name"] for model in api_request(url, "GET", "/models")]
    if "demo" in names:
        return "demo"
    if len(names) == 1:
        return str(names[0])
    if not names:
        raise fail("No model is configured: add one (POST /models), or start maghub with --demo.")
    raise fail(f"Choose the designing model with --model: one of {', '.join(names)}.")
