"""``maghub users ...``: manage accounts directly in the database (works with the server stopped,
so the first admin can be created before the server ever starts in auth mode)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from maghub.cli.support import fail, load_settings, out

app = typer.Typer(help="Manage user accounts (for auth mode and the hub API).", no_args_is_help=True)


def _read_password() -> str:
    if sys.stdin.isatty():
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


@app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="Letters, digits and . _ @ - (1-64 characters).")],
    admin: Annotated[bool, typer.Option("--admin", help="Give the admin role.")] = False,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory \\[env MAGHUB_DATA_DIR].")] = None,
    database_url: Annotated[str | None, typer.Option(help="Database URL \\[env MAGHUB_DATABASE_URL].")] = None,
) -> None:
    """Create a user. The password is asked for, or read from standard input when it is not a terminal."""
    # Imported here, not at the top: `maghub --version` must not load the server's dependencies.
    from maghub.auth.users import create_user
    from maghub.errors import MaghubError
    from maghub.service.runtime import ensure_data_dir
    from maghub.store.database import Database

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    password = _read_password()

    async def run() -> None:
        ensure_data_dir(settings)
        database = Database(settings.resolved_database_url)
        try:
            await database.migrate()
            await create_user(database, username, password, admin=admin)
        finally:
            await database.dispose()

    try:
        asyncio.run(run())
    except MaghubError as exc:
        raise fail(str(exc)) from None
    out.print(f"Created {'admin' if admin else 'user'} '{username}'.", highlight=False)
