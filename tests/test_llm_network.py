"""The asyncio network backend of the LLM HTTP client, against real sockets: plain and TLS servers,
large bodies both ways (back-pressure), keep-alive reuse, a server that closes an idle connection,
read timeouts and refused connections."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from maghub.llm.http.network import MAX_BUFFERED_BYTES, AsyncioBackend, AsyncioHTTPTransport, new_http_client

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
BIG = bytes(range(256)) * 4096  # 1 MiB


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One HTTP/1.1 request's body, or None when the client closed the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return await reader.readexactly(length)


def response(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\n\r\n%s" % (
        len(body),
        body,
    )


class Server:
    def __init__(self) -> None:
        self.connections = 0
        self.port = 0


@asynccontextmanager
async def serving(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    state = Server()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0, ssl=ssl_context)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state


async def echo_size_then_big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers each request with the size of its body (as text) followed by 1 MiB, keeping the connection."""
    while (body := await read_request(reader)) is not None:
        writer.write(response(str(len(body)).encode() + b"\n" + BIG))
        await writer.drain()


def self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1, and a client context that trusts only it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "maghub test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_large_bodies_both_ways_on_one_kept_alive_connection(tmp_path: Path, tls: bool) -> None:
    server_context, client_context = self_signed(tmp_path) if tls else (None, None)
    async with serving(echo_size_then_big, server_context) as server:
        transport = AsyncioHTTPTransport(verify=client_context) if tls else AsyncioHTTPTransport()
        scheme = "https" if tls else "http"
        async with httpx2.AsyncClient(transport=transport) as client:
            for size in (0, 3 * len(BIG)):
                reply = await client.post(f"{scheme}://127.0.0.1:{server.port}/", content=b"x" * size)
                assert reply.status_code == 200
                assert reply.content == str(size).encode() + b"\n" + BIG
        assert server.connections == 1


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_reading_resumes_after_the_buffer_filled_up(tmp_path: Path, tls: bool) -> None:
    """Back-pressure: reading stops while much is buffered and resumes as the reader catches up."""
    server_context, client_context = self_signed(tmp_path) if tls else (None, None)
    total = 4 * MAX_BUFFERED_BYTES

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"x" * total)
        await writer.drain()

    async with serving(flood, server_context) as server:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", server.port, timeout=5)
        if client_context is not None:
            stream = await stream.start_tls(client_context, server_hostname="127.0.0.1", timeout=5)
        await asyncio.sleep(0.3)  # nobody reads: the buffer fills and reading is paused
        received = 0
        while data := await stream.read(65536, timeout=3):
            received += len(data)
        await stream.aclose()
    assert received == total


async def test_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    server_context, _ = self_signed(tmp_path)
    async with (
        serving(echo_size_then_big, server_context) as server,
        httpx2.AsyncClient(transport=AsyncioHTTPTransport()) as client,
    ):
        with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get(f"https://127.0.0.1:{server.port}/")


async def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    async def one_reply_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if await read_request(reader) is not None:
            writer.write(response(b"ok"))  # no "Connection: close": the client believes it may reuse it
            await writer.drain()

    async with serving(one_reply_then_close) as server:
        async with httpx2.AsyncClient(transport=AsyncioHTTPTransport()) as client:
            for _ in range(3):
                reply = await client.get(f"http://127.0.0.1:{server.port}/")
                assert reply.content == b"ok"
                await asyncio.sleep(0.05)  # the close reaches the idle connection
        assert server.connections == 3


async def test_a_silent_server_is_a_read_timeout() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async with (
        serving(never_answer) as server,
        httpx2.AsyncClient(transport=AsyncioHTTPTransport(), timeout=0.3) as client,
    ):
        started = asyncio.get_running_loop().time()
        with pytest.raises(httpx2.ReadTimeout):
            await client.get(f"http://127.0.0.1:{server.port}/")
        assert asyncio.get_running_loop().time() - started < 2


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with serving(echo_size_then_big) as server:
        port = server.port
    async with httpx2.AsyncClient(transport=AsyncioHTTPTransport()) as client:
        with pytest.raises(httpx2.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/")


async def test_llm_clients_use_the_asyncio_backend() -> None:
    """Guards the hook into httpx2's transport (it has no parameter for a backend)."""
    async with new_http_client() as client:
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert isinstance(pool._network_backend, AsyncioBackend)
