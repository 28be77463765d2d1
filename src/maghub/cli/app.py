"""The ``maghub`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from maghub import __version__
from maghub.cli.generate import app as generate_app
from maghub.cli.graph import app as graph_app
from maghub.cli.keys import app as keys_app
from maghub.cli.mcp import app as mcp_app
from maghub.cli.schedules import app as schedules_app
from maghub.cli.run import run as run_graph
from maghub.cli.support import err, fail, load_settings
from maghub.cli.users import app as users_app
from maghub.errors import ConfigurationError

app = typer.Typer(
    name="maghub",
    help="maghub: build and run multi-agent systems on MCP.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(mcp_app, name="mcp")
app.add_typer(schedules_app, name="schedules")
app.add_typer(graph_app, name="graph")
app.add_typer(users_app, name="users")
app.add_typer(generate_app, name="generate")
app.add_typer(keys_app, name="keys")
app.command("run")(run_graph)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"maghub {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """maghub: build and run multi-agent systems on MCP."""


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on \\[env MAGHUB_HOST; default 127.0.0.1].")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port \\[env MAGHUB_PORT; default 8000; 0 picks a free one].")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory \\[env MAGHUB_DATA_DIR; default ~/.maghub].")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Database URL \\[env MAGHUB_DATABASE_URL; default SQLite in the data dir].")
    ] = None,
    log_level: Annotated[
        str | None, typer.Option(help="debug, info, warning or error \\[env MAGHUB_LOG_LEVEL].")
    ] = None,
    demo: Annotated[
        bool | None, typer.Option("--demo", help="Also serve an offline scripted LLM, registered as model 'demo'.")
    ] = None,
    auth: Annotated[
        bool | None,
        typer.Option("--auth", help="Require a JWT on every route \\[env MAGHUB_AUTH_ENABLED]; needed off loopback."),
    ] = None,
) -> None:
    """Start the maghub server."""
    from maghub.logs import configure_logging
    from maghub.security.origins import WILDCARD_ADDRESSES, host_name
    from maghub.service.server import bind_listener, build_server, listen_url, preflight

    settings = load_settings(
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        log_level=log_level,
        demo=demo,
        auth_enabled=auth,
    )
    configure_logging(settings.log_level, settings.log_format)
    try:
        preflight(settings)
        sock = bind_listener(settings.host, settings.port)
    except ConfigurationError as exc:
        raise fail(str(exc)) from None
    settings.port = sock.getsockname()[1]
    url = listen_url(settings.host, settings.port)
    err.print(
        f"maghub {__version__} listening on [bold]{url}[/]  (API docs {url}/docs, data dir {settings.data_dir})",
        highlight=False,
    )
    if settings.demo:
        err.print("Demo mode: the offline model 'demo' answers without any API key.", highlight=False)
    if host_name(settings.host) in WILDCARD_ADDRESSES and not settings.allowed_hosts:
        err.print(
            "Listening on every interface, but only loopback names are served: list the names or addresses "
            "users reach maghub by in MAGHUB_ALLOWED_HOSTS (e.g. MAGHUB_ALLOWED_HOSTS=maghub.example.com).",
            highlight=False,
        )
    server = build_server(settings)
    server.run(sockets=[sock])
    if not server.started:
        raise fail("maghub did not start; see the log above.", code=3)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
