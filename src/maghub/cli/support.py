"""What every ``maghub`` subcommand prints with: the consoles and the one way to fail."""

from __future__ import annotations

from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console

from maghub.settings import Settings

# soft_wrap: messages carry paths and URLs that must stay copyable, not be cut at 80 columns.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``Error: message`` to stderr; raise the returned Exit to stop with ``code``."""
    err.print(f"[bold red]Error:[/] {message}", highlight=False)
    return typer.Exit(code)


def load_settings(**overrides: Any) -> Settings:
    """Environment (MAGHUB_*) first, then the flags that were given."""
    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise fail(f"Invalid settings: {problems}") from None
