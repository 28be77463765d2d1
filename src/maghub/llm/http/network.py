"""An asyncio network backend for the LLM connection pool (httpcore2's ``network_backend``).

httpcore2's default backend goes through anyio: every read opens a cancel scope for its timeout
(which looks up the current task and the running async library each time), and every check of an
idle connection polls its socket. With a hundred streams at once that was about a third of
maghub's CPU in a chat. Here a stream is an asyncio protocol: a read returns buffered data or
waits on one future with one timer, and an idle connection knows without a system call whether
the server has sent anything (which, on an idle HTTP/1.1 connection, only a close can be).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2
import openai
from httpcore2 import AsyncNetworkBackend, AsyncNetworkStream

# Stop reading from the socket while this much is buffered and unread (back-pressure).
MAX_BUFFERED_BYTES = 256 * 1024
# Few idle connections kept: the pool looks at every idle connection whenever a request starts or
# ends, so a hundred idle ones (the SDK's default) cost milliseconds of CPU per call after a burst;
# they would be closed 5 s later anyway.
KEEPALIVE_CONNECTIONS = 20


def new_http_client() -> httpx2.AsyncClient:
    """The HTTP client for LLM calls: the SDK's defaults, on :class:`AsyncioBackend`."""
    limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=KEEPALIVE_CONNECTIONS)
    return openai.DefaultAsyncHttpx2Client(limits=limits, transport=AsyncioHTTPTransport(limits=limits))


class _StreamProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.reading_paused = False
        self._reader: asyncio.Future[bool] | None = None
        self._drainer: asyncio.Future[bool] | None = None
        self.writing_paused = False

    # --- asyncio callbacks -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > MAX_BUFFERED_BYTES and self.transport is not None:
            self.transport.pause_reading()
            self.reading_paused = True
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if exc is not None:
            self.error = exc
        self._wake_reader()
        self._wake_drainer()

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake_drainer()

    def take(self, max_bytes: int) -> bytes:
        data = bytes(self.buffer[:max_bytes])
        del self.buffer[:max_bytes]
        if self.reading_paused and len(self.buffer) <= MAX_BUFFERED_BYTES // 2 and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()
        return data

    # --- waiting -------------------------------------------------------------------------------------

    def reader(self) -> asyncio.Future[bool]:
        self._reader = asyncio.get_running_loop().create_future()
        return self._reader

    def drainer(self) -> asyncio.Future[bool]:
        self._drainer = asyncio.get_running_loop().create_future()
        return self._drainer

    def _wake_reader(self) -> None:
        waiter, self._reader = self._reader, None
        _settle(waiter, expired=False)

    def _wake_drainer(self) -> None:
        waiter, self._drainer = self._drainer, None
        _settle(waiter, expired=False)


def _settle(waiter: asyncio.Future[bool] | None, *, expired: bool) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(expired)


def _expire(waiter: asyncio.Future[bool]) -> None:
    _settle(waiter, expired=True)


async def _wait(waiter: asyncio.Future[bool], timeout: float | None, timeout_error: type[Exception]) -> None:
    """Wait for ``waiter`` to be woken; ``timeout_error`` after ``timeout`` seconds without that."""
    if timeout is None:
        await waiter
        return
    timer = asyncio.get_running_loop().call_later(timeout, _expire, waiter)
    try:
        expired = await waiter
    finally:
        timer.cancel()
    if expired:
        raise timeout_error(f"no progress within {timeout} s")


class AsyncioStream(AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, protocol: _StreamProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.buffer and not protocol.eof:
            await _wait(protocol.reader(), timeout, httpcore2.ReadTimeout)
        if protocol.buffer:
            return protocol.take(max_bytes)
        if protocol.error is not None:
            raise httpcore2.ReadError(str(protocol.error) or type(protocol.error).__name__)
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if protocol.eof or self._transport.is_closing():
            raise httpcore2.WriteError(str(protocol.error or "the connection is closed"))
        self._transport.write(buffer)
        if protocol.writing_paused:
            await _wait(protocol.drainer(), timeout, httpcore2.WriteTimeout)

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            transport = await asyncio.wait_for(
                loop.start_tls(self._transport, self._protocol, ssl_context, server_hostname=server_hostname),
                timeout,
            )
        except TimeoutError:
            self._transport.close()
            raise httpcore2.ConnectTimeout(f"TLS handshake with {server_hostname} took over {timeout} s") from None
        except (OSError, ssl.SSLError) as exc:
            self._transport.close()
            raise httpcore2.ConnectError(str(exc)) from exc
        if transport is None:  # the connection closed during the handshake
            raise httpcore2.ConnectError(f"the connection to {server_hostname} closed during the TLS handshake")
        # start_tls does not call connection_made again: from now on reading is paused and resumed
        # on the TLS transport (pausing the TCP one under it would never be undone).
        self._protocol.transport = transport
        return AsyncioStream(transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # Idle HTTP/1.1: anything received, or the end of the stream, means the server is closing.
            return bool(self._protocol.buffer) or self._protocol.eof
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


def _happy_eyeballs_delay(host: str) -> float | None:
    """Race IPv6 and IPv4 addresses of a name (RFC 8305), as httpcore2's backend does; an address
    has nothing to race, and the race costs a task per attempt."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return 0.25
    return None


class AsyncioBackend(AsyncNetworkBackend):
    """TCP through asyncio's own transports; Unix sockets through httpcore2's default backend."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        protocol = _StreamProtocol()
        local = (local_address, 0) if local_address else None
        options: dict[str, Any] = {"local_addr": local}
        delay = _happy_eyeballs_delay(host)
        if delay is not None and isinstance(loop, asyncio.BaseEventLoop):  # uvloop has no such option
            options["happy_eyeballs_delay"] = delay
        try:
            transport, _ = await asyncio.wait_for(
                loop.create_connection(lambda: protocol, host, port, **options), timeout
            )
        except TimeoutError:
            raise httpcore2.ConnectTimeout(f"connecting to {host}:{port} took over {timeout} s") from None
        except OSError as exc:
            raise httpcore2.ConnectError(str(exc) or f"cannot connect to {host}:{port}") from exc
        sock: socket.socket | None = transport.get_extra_info("socket")
        if sock is not None:
            for option in socket_options or ():
                sock.setsockopt(*option)
        return AsyncioStream(transport, protocol)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> AsyncNetworkStream:
        return await httpcore2.AnyIOBackend().connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class AsyncioHTTPTransport(httpx2.AsyncHTTPTransport):
    """httpx2's transport, its connection pool on :class:`AsyncioBackend` when it connects directly
    (through a proxy it keeps httpcore2's own backend)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        pool = self._pool
        if type(pool) is httpcore2.AsyncConnectionPool:
            # httpx2 has no parameter for it; the pool takes a backend (public in httpcore2) at
            # construction and keeps it in this attribute (tests check that it is in use).
            pool._network_backend = AsyncioBackend()
