"""Running maghub under uvicorn: pre-flight checks, the listening socket, graceful exit."""

from __future__ import annotations

import asyncio
import errno
import math
import socket

import uvicorn

from maghub.api.app import create_app
from maghub.errors import ConfigurationError
from maghub.security.origins import WILDCARD_ADDRESSES
from maghub.service.runtime import ensure_data_dir, open_secret_box
from maghub.settings import Settings
from maghub.store.database import Database


def check_host_allowed(settings: Settings) -> None:
    if not settings.is_loopback_host and not settings.auth_enabled:
        raise ConfigurationError(
            f"Refusing to listen on {settings.host} without authentication: anyone who can reach that "
            "address could run commands through MCP stdio servers. Enable authentication with --auth "
            "(or MAGHUB_AUTH_ENABLED=true), create an admin with `maghub users create NAME --admin`, "
            "or listen on 127.0.0.1 only."
        )


def bind_listener(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves: a busy port gets a clear message, and port 0 a real port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP makes uvicorn set TCP_NODELAY; without it multi-part responses stall ~40 ms (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigurationError(
                f"Port {port} on {host} is already in use. Stop the other program, or start maghub on "
                f"another port with --port (or MAGHUB_PORT)."
            ) from exc
        if exc.errno == errno.EACCES:
            raise ConfigurationError(
                f"Not allowed to listen on {host}:{port} (ports below 1024 need privileges). "
                "Choose a port above 1024 with --port."
            ) from exc
        raise ConfigurationError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def preflight(settings: Settings) -> None:
    """Fail before starting the server, with one clear message, for what would fail at startup."""
    check_host_allowed(settings)
    ensure_data_dir(settings)
    open_secret_box(settings)

    async def _check_database() -> None:
        database = Database(settings.resolved_database_url)
        try:
            await database.check_connection()
        finally:
            await database.dispose()

    asyncio.run(_check_database())


def build_server(settings: Settings) -> uvicorn.Server:
    holder: list[uvicorn.Server] = []

    def request_exit() -> None:
        holder[0].should_exit = True

    app = create_app(settings, request_exit=request_exit)
    # loop and http stay "auto": uvicorn then runs on uvloop and httptools (both dependencies), which
    # took 100 concurrent stored chats from 1.45 to 1.36 s on a 2-core VM (bench/chat_stream.py).
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),  # uvicorn takes whole seconds
        server_header=False,
    )
    holder.append(uvicorn.Server(config))
    return holder[0]


def listen_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def local_url(host: str, port: int) -> str:
    """The URL a client on this machine reaches a server listening on ``host`` at. Listening on every
    interface (0.0.0.0, ::) is reached over loopback: the wildcard is no name a request may address
    maghub by (see :mod:`maghub.security.origins`)."""
    if host in WILDCARD_ADDRESSES:
        host = "::1" if ":" in host else "127.0.0.1"
    return listen_url(host, port)
