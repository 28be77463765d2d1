"""``maghub schedules ...``: the schedules of a running maghub, through its HTTP API (the server owns
the firing loop)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from maghub.cli.http import UrlOption, api_request
from maghub.cli.support import fail, out

app = typer.Typer(
    help="Manage the schedules (graph runs on a cron or an interval) of a running maghub.", no_args_is_help=True
)

UserOption = Annotated[str | None, typer.Option("--user", help="Owner (local mode) [default: the server's].")]
ScheduleId = Annotated[str, typer.Argument(help="The schedule's id (`maghub schedules list` shows them).")]


def _owner(user: str | None) -> dict[str, str]:
    return {"user_id": user} if user else {}


def _when(schedule: dict[str, Any]) -> str:
    if schedule["cron"]:
        return f"cron {schedule['cron']} ({schedule['timezone']})"
    return f"every {schedule['interval_seconds']:g} s"


@app.command("list")
def list_schedules(user: UserOption = None, url: UrlOption = None) -> None:
    """List the schedules with their next run and last firing."""
    schedules = api_request(url, "GET", "/schedules", params=_owner(user))["schedules"]
    if not schedules:
        out.print("No schedules. Add one with `maghub schedules add GRAPH INPUT --every 3600`.")
        return
    table = Table("id", "graph", "when", "state", "next run", "last firing")
    for schedule in schedules:
        state = (
            "enabled"
            if schedule["enabled"]
            else f"paused{': ' + schedule['paused_reason'] if schedule['paused_reason'] else ''}"
        )
        last = schedule["firings"][0] if schedule["firings"] else None
        last_text = f"{last['status']} {last['fired_at']}" if last else ""
        table.add_row(
            schedule["id"], schedule["graph_name"], _when(schedule), state, schedule["next_run_at_local"], last_text
        )
    out.print(table)


@app.command("add")
def add_schedule(
    graph: Annotated[str, typer.Argument(help="The graph to run.")],
    input_text: Annotated[str, typer.Argument(help="The input of every run.")],
    *,
    cron: Annotated[str | None, typer.Option("--cron", help="A cron expression, e.g. '0 9 * * 1-5'.")] = None,
    every: Annotated[float | None, typer.Option("--every", help="An interval in seconds (at least 1).")] = None,
    timezone: Annotated[str, typer.Option("--timezone", "--tz", help="The zone the cron is read in.")] = "UTC",
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused.")] = False,
    user: UserOption = None,
    url: UrlOption = None,
) -> None:
    """Add a schedule: give --cron or --every."""
    if (cron is None) == (every is None):
        raise fail("give either --cron EXPRESSION or --every SECONDS")
    body = {
        "graph_name": graph,
        "input_text": input_text,
        "cron": cron,
        "interval_seconds": every,
        "timezone": timezone,
        "enabled": not paused,
        **_owner(user),
    }
    schedule = api_request(url, "POST", "/schedules", json=body)
    out.print(
        f"added schedule [bold]{schedule['id']}[/] ({_when(schedule)}); next run {schedule['next_run_at_local']}",
        highlight=False,
    )


def _act(action: str, schedule_id: str, user: str | None, url: str | None) -> dict[str, Any]:
    return api_request(url, "POST", f"/schedules/{schedule_id}/{action}", params=_owner(user))


@app.command("pause")
def pause_schedule(schedule_id: ScheduleId, user: UserOption = None, url: UrlOption = None) -> None:
    """Stop a schedule firing until it is resumed."""
    _act("pause", schedule_id, user, url)
    out.print(f"paused {schedule_id}", highlight=False)


@app.command("resume")
def resume_schedule(schedule_id: ScheduleId, user: UserOption = None, url: UrlOption = None) -> None:
    """Fire again, from the next period after now."""
    schedule = _act("resume", schedule_id, user, url)
    out.print(f"resumed {schedule_id}; next run {schedule['next_run_at_local']}", highlight=False)


@app.command("delete")
def delete_schedule(schedule_id: ScheduleId, user: UserOption = None, url: UrlOption = None) -> None:
    """Delete a schedule (the runs it started stay)."""
    api_request(url, "DELETE", f"/schedules/{schedule_id}", params=_owner(user))
    out.print(f"deleted {schedule_id}", highlight=False)
