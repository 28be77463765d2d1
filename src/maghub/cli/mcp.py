"""``maghub mcp ...``: manage the MCP servers of a running maghub through its HTTP API.

Going through the server (rather than the database) keeps one owner of the live connections:
the server applies every change at once and no second process spawns the same MCP servers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from maghub.cli.http import UrlOption, api_request
from maghub.cli.support import err, fail, out

app = typer.Typer(help="Manage the MCP servers of a running maghub.", no_args_is_help=True)


@app.command("list")
def list_servers(url: UrlOption = None) -> None:
    """List the configured MCP servers and their connection status."""
    config = api_request(url, "GET", "/mcp/config")["mcpServers"]
    status = api_request(url, "GET", "/mcp/status")
    if not config:
        out.print("No MCP servers configured. Add some with `maghub mcp add FILE`.")
        return
    table = Table("name", "transport", "status", "tools", "target", "last error")
    for name, entry in config.items():
        state = status.get(name, {})
        target = entry.get("url") or " ".join([entry.get("command") or "", *entry.get("args", [])])
        shown_state = "disabled" if entry.get("disabled") else state.get("status", "?")
        table.add_row(
            name,
            entry["transportType"],
            shown_state,
            str(state.get("toolCount", 0)),
            target,
            state.get("lastError") or "",
        )
    out.print(table)


@app.command("add")
def add_servers(
    file: Annotated[Path, typer.Argument(help='A JSON file: {"mcpServers": {...}} (MAG, hub or Claude Desktop).')],
    url: UrlOption = None,
) -> None:
    """Add the MCP servers of a config file (e.g. Claude Desktop's claude_desktop_config.json)."""
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise fail(f"{file} is not valid JSON: {exc}") from None
    result = api_request(url, "POST", "/mcp/add", json=document)
    for name in result["added_servers"]:
        state = result["servers"][name]
        detail = f"{state['toolCount']} tools" if state["connected"] else (state["lastError"] or state["status"])
        out.print(f"added [bold]{name}[/] ({state['status']}: {detail})", highlight=False)
    for name in result["duplicate_servers"]:
        out.print(f"skipped [bold]{name}[/]: a server of that name exists", highlight=False)


def _parse_arg(item: str) -> tuple[str, Any]:
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise fail(f"--arg {item!r} must look like name=value (values are JSON when they parse, else text)")
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw


@app.command("test")
def test_tool(
    server: Annotated[str, typer.Argument(help="Server name.")],
    tool: Annotated[str, typer.Argument(help="Tool name.")],
    arg: Annotated[list[str] | None, typer.Option("--arg", "-a", help="name=value; repeat for more.")] = None,
    url: UrlOption = None,
) -> None:
    """Call one tool of one server and print its result."""
    params = dict(_parse_arg(item) for item in arg or [])
    result = api_request(
        url, "POST", "/mcp/test-tool", json={"server_name": server, "tool_name": tool, "params": params}
    )
    out.print(result["result"], highlight=False, markup=False)
    err.print(f"{result['status']} in {result['execution_time'] * 1000:.0f} ms", highlight=False)
    if result["status"] != "success":
        raise typer.Exit(1)
