"""``maghub keys ...``: API keys for machine clients (the MCP gateway), managed directly in the
database like ``maghub users`` (works with the server stopped)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from maghub.cli.support import fail, load_settings, out

app = typer.Typer(help="Manage API keys (bearer tokens for MCP clients and scripts).", no_args_is_help=True)
T = TypeVar("T")

UserOption = Annotated[str, typer.Option("--user", "-u", help="The user the key belongs to and acts as.")]
DataDirOption = Annotated[Path | None, typer.Option(help="Data directory \\[env MAGHUB_DATA_DIR].")]
DatabaseOption = Annotated[str | None, typer.Option(help="Database URL \\[env MAGHUB_DATABASE_URL].")]


def _with_database(data_dir: Path | None, database_url: str | None, work: Callable[[Any], Awaitable[T]]) -> T:
    # Imported here, not at the top: `maghub --version` must not load the server's dependencies.
    from maghub.auth.api_keys import ApiKeyService
    from maghub.errors import MaghubError
    from maghub.service.runtime import ensure_data_dir
    from maghub.store.database import Database

    settings = load_settings(data_dir=data_dir, database_url=database_url)

    async def run() -> T:
        ensure_data_dir(settings)
        database = Database(settings.resolved_database_url)
        try:
            await database.migrate()
            return await work((database, ApiKeyService(database)))
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except MaghubError as exc:
        raise fail(str(exc)) from None


async def _user_id(database: Any, username: str) -> str:
    from maghub.errors import NotFoundError
    from maghub.store.repositories.users import UserRepository

    async with database.read() as session:
        row = await UserRepository(session).get(username)
    if row is None:
        raise NotFoundError(f"User '{username}' does not exist; create it with `maghub users create {username}`.")
    return row.id


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="What uses the key, e.g. claude-desktop.")],
    user: UserOption,
    expires_in_days: Annotated[
        float | None, typer.Option(min=0.001, help="Days until the key stops working (default: never).")
    ] = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Create a key and print it. It is shown this once: only its hash is stored."""
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None

    async def work(context: Any) -> tuple[Any, str]:
        _, keys = context
        return await keys.create(user, name, expires_at)

    stored, key = _with_database(data_dir, database_url, work)
    out.print(key, highlight=False)
    until = f", expires {stored.public_view()['expires_at']}" if stored.expires_at else ""
    typer.echo(
        f"Created API key '{stored.name}' (id {stored.id}) of user '{user}'{until}. "
        "Copy it now: it is not shown again.",
        err=True,
    )


@app.command("list")
def list_keys(user: UserOption, data_dir: DataDirOption = None, database_url: DatabaseOption = None) -> None:
    """List a user's keys (never the keys themselves)."""

    async def work(context: Any) -> list[Any]:
        database, keys = context
        return await keys.list(await _user_id(database, user))

    found = _with_database(data_dir, database_url, work)
    if not found:
        out.print(f"User '{user}' has no API keys.", highlight=False)
    for key in found:
        view = key.public_view()
        out.print(
            f"{view['id']}  {view['name']}  {view['prefix']}…  created {view['created_at']}  "
            f"expires {view['expires_at'] or 'never'}  last used {view['last_used_at'] or 'never'}",
            highlight=False,
        )


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id, from `maghub keys list`.")],
    user: UserOption,
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Revoke a key: it stops working at once."""

    async def work(context: Any) -> None:
        database, keys = context
        await keys.revoke(await _user_id(database, user), key_id)

    _with_database(data_dir, database_url, work)
    out.print(f"Revoked API key {key_id}.", highlight=False)
