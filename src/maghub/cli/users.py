"""``maghub users ...``: manage accounts directly in the database (works with the server stopped,
so the first admin can be created before the server ever starts in auth mode). A running server sees
the changes on the next request: a disabled or deleted user's tokens stop working at once."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from maghub.cli.support import fail, load_settings, out

if TYPE_CHECKING:
    from maghub.store.database import Database

app = typer.Typer(help="Manage user accounts (for auth mode and the hub API).", no_args_is_help=True)

T = TypeVar("T")
UsernameArgument = Annotated[str, typer.Argument(help="The user's name.")]
DataDirOption = Annotated[Path | None, typer.Option(help="Data directory \\[env MAGHUB_DATA_DIR].")]
DatabaseUrlOption = Annotated[str | None, typer.Option(help="Database URL \\[env MAGHUB_DATABASE_URL].")]


def _read_password() -> str:
    if sys.stdin.isatty():
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


def _with_database(data_dir: Path | None, database_url: str | None, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` on the (migrated) database; a domain error ends the command with its message."""
    # Imported here, not at the top: `maghub --version` must not load the server's dependencies.
    from maghub.errors import MaghubError
    from maghub.service.runtime import ensure_data_dir
    from maghub.store.database import Database

    settings = load_settings(data_dir=data_dir, database_url=database_url)

    async def run() -> T:
        ensure_data_dir(settings)
        database = Database(settings.resolved_database_url)
        try:
            await database.migrate()
            return await work(database)
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except MaghubError as exc:
        raise fail(str(exc)) from None


@app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="Letters, digits and . _ @ - (1-64 characters).")],
    admin: Annotated[bool, typer.Option("--admin", help="Give the admin role.")] = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Create a user. The password is asked for, or read from standard input when it is not a terminal."""
    from maghub.auth.users import create_user

    password = _read_password()
    _with_database(data_dir, database_url, lambda database: create_user(database, username, password, admin=admin))
    out.print(f"Created {'admin' if admin else 'user'} '{username}'.", highlight=False)


@app.command("list")
def list_users(data_dir: DataDirOption = None, database_url: DatabaseUrlOption = None) -> None:
    """List the users: name, role, whether disabled, last login."""
    from maghub.auth.users import list_users as stored_users
    from maghub.timestamps import iso_utc_or_none

    users = _with_database(data_dir, database_url, stored_users)
    if not users:
        out.print("No users. Create one with: maghub users create NAME --admin", highlight=False)
        return
    width = max(len(user.username) for user in users)
    for user in users:
        state = "disabled" if user.disabled else "enabled"
        last_login = iso_utc_or_none(user.last_login_at) or "never"
        out.print(f"{user.username:<{width}}  {user.role:<5}  {state:<8}  last login {last_login}", highlight=False)


@app.command("disable")
def disable(username: UsernameArgument, data_dir: DataDirOption = None, database_url: DatabaseUrlOption = None) -> None:
    """Disable a user: they cannot log in, and their tokens stop working at once."""
    from maghub.auth.users import set_disabled

    _with_database(data_dir, database_url, lambda database: set_disabled(database, username, True))
    out.print(f"Disabled '{username}'.", highlight=False)


@app.command("enable")
def enable(username: UsernameArgument, data_dir: DataDirOption = None, database_url: DatabaseUrlOption = None) -> None:
    """Enable a disabled user."""
    from maghub.auth.users import set_disabled

    _with_database(data_dir, database_url, lambda database: set_disabled(database, username, False))
    out.print(f"Enabled '{username}'.", highlight=False)


@app.command("delete")
def delete(
    username: UsernameArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Delete a user; their tokens stop working at once. Their graphs stay (admins may change them)."""
    from maghub.auth.users import delete_user

    if not yes and sys.stdin.isatty() and not typer.confirm(f"Delete user '{username}'?"):
        raise typer.Exit(1)
    _with_database(data_dir, database_url, lambda database: delete_user(database, username))
    out.print(f"Deleted '{username}'.", highlight=False)


@app.command("passwd")
def passwd(username: UsernameArgument, data_dir: DataDirOption = None, database_url: DatabaseUrlOption = None) -> None:
    """Set a user's password (asked for, or read from standard input); their earlier tokens stop working."""
    from maghub.auth.users import set_password

    password = _read_password()
    _with_database(data_dir, database_url, lambda database: set_password(database, username, password))
    out.print(f"Changed the password of '{username}'.", highlight=False)
