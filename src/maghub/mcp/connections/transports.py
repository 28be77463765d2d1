"""Open the transport to one MCP server (stdio, SSE or streamable HTTP) as a :class:`Link`.

A link is the pair of streams the SDK's client session runs on, plus what the connection needs to
know about the other end: when the server went away (the read stream ended), the server's process
tree and the tail of its stderr (stdio), and the last HTTP error status (HTTP transports, whose SDK
clients report most statuses only as a generic error).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import anyio
import httpx2
from mcp.client._transport import ReadStream, WriteStream  # the SDK's stream protocols (types only)
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.message import SessionMessage

from maghub.mcp.configuration.secrets import server_secret_texts
from maghub.mcp.configuration.server_config import ServerConfig, Transport
from maghub.mcp.connections.process_tree import OWNER_VARIABLE, TAG_VARIABLE, ProcessTree
from maghub.security.redaction import log_redactor

log = logging.getLogger(__name__)

# Variables a stdio server inherits from maghub's environment, on top of the SDK's short list (HOME,
# LOGNAME, PATH, SHELL, TERM, USER) and under the server's own ``env``. Enough for package runners
# (npx, uvx), locales, proxies and private CAs to work; nothing else, so maghub's own secrets
# (MAGHUB_*, provider API keys) never reach a server that was not given them.
INHERITED_VARIABLES = frozenset(
    {
        "LANG", "LANGUAGE", "TZ", "TMPDIR", "TMP", "TEMP",
        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS",
        "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR",
    }
)  # fmt: skip
INHERITED_PREFIXES = ("LC_", "NPM_CONFIG_", "npm_config_", "UV_", "PIP_")

# HTTP timeouts: connecting and sending are quick or broken; a response may stream for as long as a
# tool runs (per-call timeouts are enforced above the transport, and dead peers are found by heartbeat).
_HTTP_CONNECT_TIMEOUT = 10.0
_HTTP_STREAM_READ_TIMEOUT = 3600.0

STDERR_TAIL_LINES = 20


def server_environment(config: ServerConfig, tag: str, owner: str | None = None) -> dict[str, str]:
    inherited = {
        key: value
        for key, value in os.environ.items()
        if key in INHERITED_VARIABLES or key.startswith(INHERITED_PREFIXES)
    }
    ours = {TAG_VARIABLE: tag, **({OWNER_VARIABLE: owner} if owner else {})}
    return {**inherited, **config.env, **ours}


class StderrTail:
    """Reads a stdio server's stderr: each line goes to the debug log, the last few are kept for error
    messages (a server that fails to start usually says why there)."""

    def __init__(self, server: str) -> None:
        self._server = server
        self._lines: deque[str] = deque(maxlen=STDERR_TAIL_LINES)

    @property
    def text(self) -> str:
        return "\n".join(self._lines)

    async def pump(self, fd: int) -> None:
        pending = b""
        while True:
            await anyio.wait_readable(fd)
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                self._add(line)
        if pending:
            self._add(pending)

    def _add(self, raw: bytes) -> None:
        line = raw.decode(errors="replace").rstrip()
        if line:
            self._lines.append(line)
            log.debug("server stderr: %s", line, extra={"server": self._server})


class HttpStatusLog:
    """Remembers the last HTTP error status a server answered with."""

    def __init__(self) -> None:
        self.last_error: httpx2.Response | None = None

    async def record(self, response: httpx2.Response) -> None:
        if response.status_code >= 400:
            self.last_error = response

    def client(self, **kwargs: Any) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(event_hooks={"response": [self.record]}, **kwargs)


class _EndWatchingReadStream:
    """The transport's read stream, setting ``ended`` when it ends: for stdio and SSE that is how a
    server's death shows while the session is idle."""

    def __init__(self, inner: ReadStream[SessionMessage | Exception], ended: anyio.Event) -> None:
        self._inner = inner
        self._ended = ended

    @property
    def last_context(self) -> Any:
        # The SDK's dispatcher reads the sender's context from here when the transport provides one.
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._ended.set()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> _EndWatchingReadStream:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


@dataclass
class Link:
    """An open transport to one server."""

    read: ReadStream[SessionMessage | Exception]
    write: WriteStream[SessionMessage]
    ended: anyio.Event = field(default_factory=anyio.Event)
    process: ProcessTree | None = None
    stderr: StderrTail | None = None
    http_status: HttpStatusLog | None = None

    @property
    def streams(self) -> tuple[ReadStream[SessionMessage | Exception], WriteStream[SessionMessage]]:
        return (self.read, self.write)


@dataclass
class LinkAttempt:
    """What is known about a link being opened, kept for error messages even when opening fails."""

    stderr: StderrTail | None = None
    http_status: HttpStatusLog | None = None
    link: Link | None = None


@asynccontextmanager
async def open_link(
    config: ServerConfig, attempt: LinkAttempt, *, kill_grace: float, owner: str | None = None
) -> AsyncIterator[Link]:
    """Open the transport ``config`` describes; leaving the block closes it (and, for stdio, ends the
    server's whole process tree). ``owner`` goes into a stdio server's environment (see
    :attr:`ConnectionPolicy.process_owner`)."""
    # The SDK logs URLs and the server may print its arguments: log lines are scrubbed of these.
    log_redactor.add(server_secret_texts(config))
    if config.transport == Transport.STDIO:
        opener = _open_stdio(config, attempt, kill_grace, owner)
    else:
        opener = _open_http(config, attempt)
    async with opener as link:
        attempt.link = link
        yield link


@asynccontextmanager
async def _open_stdio(
    config: ServerConfig, attempt: LinkAttempt, kill_grace: float, owner: str | None
) -> AsyncIterator[Link]:
    assert config.command is not None  # ServerConfig guarantees it for stdio
    tree = ProcessTree(uuid.uuid4().hex)
    stderr = attempt.stderr = StderrTail(config.name)
    params = StdioServerParameters(
        command=config.command,
        args=config.args,
        env=server_environment(config, tree.tag, owner),
        cwd=config.cwd or None,
    )
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    errlog = os.fdopen(write_fd, "w")
    try:
        async with anyio.create_task_group() as pumps:
            pumps.start_soon(stderr.pump, read_fd)
            try:
                async with stdio_client(params, errlog=errlog) as (read, write):
                    errlog.close()  # the server holds its own copy; ours would keep the pipe from ending
                    await tree.locate_root()
                    link = _watched_link(read, write, process=tree, stderr=stderr)
                    try:
                        yield link
                    finally:
                        with anyio.CancelScope(shield=True):
                            await tree.remember_members()
                # Leaving stdio_client closed the server's stdin and waited for it to exit; its children
                # may still run.
            finally:
                errlog.close()
                with anyio.CancelScope(shield=True):
                    await tree.terminate(kill_grace)
                pumps.cancel_scope.cancel()
    finally:
        os.close(read_fd)


@asynccontextmanager
async def _open_http(config: ServerConfig, attempt: LinkAttempt) -> AsyncIterator[Link]:
    assert config.url is not None  # ServerConfig guarantees it for URL transports
    status_log = attempt.http_status = HttpStatusLog()
    timeout = httpx2.Timeout(_HTTP_CONNECT_TIMEOUT, read=_HTTP_STREAM_READ_TIMEOUT)
    if config.transport == Transport.SSE:

        def client_factory(
            headers: dict[str, str] | None = None,
            timeout: httpx2.Timeout | None = None,
            auth: httpx2.Auth | None = None,
        ) -> httpx2.AsyncClient:
            return status_log.client(headers=headers, timeout=timeout, auth=auth)

        transport = sse_client(
            config.url,
            headers=dict(config.headers) or None,
            timeout=_HTTP_CONNECT_TIMEOUT,
            sse_read_timeout=_HTTP_STREAM_READ_TIMEOUT,
            httpx_client_factory=client_factory,
        )
        async with transport as (read, write):
            yield _watched_link(read, write, http_status=status_log)
    else:
        async with (
            status_log.client(headers=dict(config.headers), timeout=timeout) as http_client,
            streamable_http_client(config.url, http_client=http_client) as (read, write),
        ):
            yield _watched_link(read, write, http_status=status_log)


def _watched_link(
    read: ReadStream[SessionMessage | Exception], write: WriteStream[SessionMessage], **about: Any
) -> Link:
    ended = anyio.Event()
    return Link(read=_EndWatchingReadStream(read, ended), write=write, ended=ended, **about)
