"""How ``maghub`` subcommands talk to a running maghub: its URL (``--url``/``MAGHUB_URL``) and one
request helper that turns every failure into a clear message and exit code 2."""

from __future__ import annotations

from typing import Annotated, Any

import httpx2
import typer

from maghub.cli.support import fail
from maghub.settings import Settings

UrlOption = Annotated[
    str | None,
    typer.Option("--url", envvar="MAGHUB_URL", help="The maghub server [default: http://MAGHUB_HOST:MAGHUB_PORT]."),
]


def server_url(url: str | None) -> str:
    if url:
        return url.rstrip("/")
    settings = Settings()
    from maghub.service.server import local_url

    return local_url(settings.host, settings.port)


def api_request(url: str | None, method: str, path: str, *, binary: bool = False, **kwargs: Any) -> Any:
    """The JSON answer of ``method path`` (``binary``: its bytes); any error response or connection
    failure exits with its message."""
    base = server_url(url)
    try:
        response = httpx2.request(method, f"{base}{path}", timeout=120, **kwargs)
    except httpx2.ConnectError:
        raise fail(f"maghub is not running at {base}. Start it with `maghub serve`, or pass --url.") from None
    except httpx2.HTTPError as exc:
        raise fail(f"request to {base}{path} failed: {exc}") from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        if isinstance(detail, list):
            detail = "; ".join(f"{e.get('field', '')}: {e.get('msg', '')}" for e in detail)
        raise fail(f"{detail} (HTTP {response.status_code})")
    return response.content if binary else response.json()
