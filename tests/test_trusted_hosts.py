"""DNS rebinding and cross-site requests (SPEC §9): requests naming a host maghub is not served under
are refused before routing, and state-changing browser requests must come from an allowed origin.

The attacks are sent as a browser would send them after a rebinding: over a real socket to a real
maghub, with ``Host`` and ``Origin`` both naming the attacker's domain."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2
import pytest
from pydantic import ValidationError

from maghub.api.middleware import TrustedRequestGuard
from maghub.security.origins import RequestOriginPolicy, host_name
from maghub.service.server import local_url
from maghub.settings import Settings
from maghub.testing.harness import RunningMaghub, running_maghub
from maghub.testing.mcp_servers.harness import MARKER_VARIABLE, marked_processes
from maghub.testing.process import MaghubProcess

ATTACKER = "rebind.attacker.example"


async def raw_request(
    maghub: RunningMaghub, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request with exactly these headers (``Host`` included), on a fresh connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", maghub.settings.port)
    lines = [f"{method} {path} HTTP/1.1", *(f"{name}: {value}" for name, value in headers.items())]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    response = await reader.read()
    writer.close()
    head, _, content = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    answer_headers = {name.lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), answer_headers, content


def stdio_server_document(marker: str) -> bytes:
    server = {
        "command": sys.executable,
        "args": ["-m", "maghub.testing.mcp_servers.toolbox"],
        "env": {MARKER_VARIABLE: marker},
    }
    return json.dumps({"mcpServers": {"planted": server}}).encode()


def attacker_headers(port: int, **extra: str) -> dict[str, str]:
    return {"Host": f"{ATTACKER}:{port}", "Origin": f"http://{ATTACKER}:{port}", **extra}


async def test_a_rebound_page_can_neither_start_a_process_nor_read(maghub: RunningMaghub, marker: str) -> None:
    port = maghub.settings.port
    body = stdio_server_document(marker)
    for path in ("/mcp/add", "/api/mcp/add"):
        status, headers, content = await raw_request(
            maghub, "POST", path, attacker_headers(port, **{"Content-Type": "application/json"}), body
        )
        assert status == 421, content
        assert headers["content-type"] == "application/json"
        detail = json.loads(content)["detail"]
        assert ATTACKER in detail and f"MAGHUB_ALLOWED_HOSTS={ATTACKER}" in detail

    # Reads too: a rebound page is "same origin", so CORS would not hide the answer.
    for path in ("/api/chat/conversations", "/models", "/api/health", "/docs"):
        status, _, content = await raw_request(maghub, "GET", path, attacker_headers(port))
        assert status == 421, (path, content)

    # Nothing was configured and no process started, not even a moment later.
    await anyio.sleep(0.5)
    assert await anyio.to_thread.run_sync(marked_processes, marker) == []
    assert "planted" not in (await maghub.client.get("/mcp/status")).text
    assert "planted" not in (await maghub.client.get("/mcp/config")).text

    # The same request with a loopback Host reaches the route: the refusal above was the Host alone.
    for host in ("localhost", "127.0.0.2", "[::1]", "LOCALHOST."):
        status, _, content = await raw_request(maghub, "GET", "/health", {"Host": f"{host}:{port}"})
        assert status == 200, (host, content)


async def test_a_request_without_a_host_is_refused(maghub: RunningMaghub) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", maghub.settings.port)
    writer.write(b"GET /health HTTP/1.0\r\n\r\n")
    response = await reader.read()
    writer.close()
    assert response.startswith(b"HTTP/1.1 421"), response
    assert b"Host header is missing" in response


async def test_loopback_origins_on_any_port_work_in_local_mode(maghub: RunningMaghub) -> None:
    # The original MAG web client under `vite preview` (port 4173) and dev servers on any other port.
    for origin in ("http://localhost:4173", "http://127.0.0.1:4173", "http://[::1]:8080", "http://localhost:5173"):
        preflight = await maghub.client.options(
            "/api/models",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code == 200, (origin, preflight.text)
        assert preflight.headers["access-control-allow-origin"] == origin
        listing = await maghub.client.get("/api/models", headers={"Origin": origin})
        assert listing.headers["access-control-allow-origin"] == origin
        created = await maghub.client.post("/api/models", json={"name": "bad"}, headers={"Origin": origin})
        assert created.status_code == 422, (origin, created.text)  # reached the route: validation

    # Look-alikes of loopback origins are other sites.
    for origin in ("http://localhost.attacker.example:4173", "http://127.0.0.1.attacker.example", "null"):
        refused = await maghub.client.post("/api/models", json={"name": "bad"}, headers={"Origin": origin})
        assert refused.status_code == 403 and "Cross-site request refused" in refused.json()["detail"]
        preflight = await maghub.client.options(
            "/api/models", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in preflight.headers


async def test_auth_mode_trusts_only_its_own_and_listed_origins(settings: Settings) -> None:
    settings.auth_enabled = True
    settings.cors_origins = ["https://console.example.com"]
    async with running_maghub(settings) as maghub:
        login = {"username": "nobody", "password": "wrong password"}
        for origin in ("http://localhost:4173", "http://127.0.0.1:5173"):
            refused = await maghub.client.post("/api/auth/login", json=login, headers={"Origin": origin})
            assert refused.status_code == 403, refused.text
            preflight = await maghub.client.options(
                "/api/auth/login", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
            )
            assert "access-control-allow-origin" not in preflight.headers
        for origin in ("https://console.example.com", maghub.url):
            reached = await maghub.client.post("/api/auth/login", json=login, headers={"Origin": origin})
            assert reached.status_code == 401, (origin, reached.text)
        status, _, _ = await raw_request(maghub, "GET", "/health", attacker_headers(maghub.settings.port))
        assert status == 421


async def test_names_in_allowed_hosts_are_served(settings: Settings) -> None:
    settings.allowed_hosts = ["maghub.example.com", ".corp.example"]
    async with running_maghub(settings) as maghub:
        port = maghub.settings.port
        for host in ("maghub.example.com", "MAGHUB.example.com:443", "corp.example", "a.b.corp.example"):
            status, _, content = await raw_request(maghub, "GET", "/health", {"Host": host})
            assert status == 200, (host, content)
        for host in ("evilcorp.example", "maghub.example.com.attacker.example", ATTACKER):
            status, _, _ = await raw_request(maghub, "GET", "/health", {"Host": f"{host}:{port}"})
            assert status == 421, host
        # maghub's own pages under an allowed name may change things; the attacker's still may not.
        own = {"Host": f"maghub.example.com:{port}", "Origin": f"http://maghub.example.com:{port}"}
        status, _, content = await raw_request(
            maghub, "POST", "/api/models", {**own, "Content-Type": "application/json"}, b'{"name": "bad"}'
        )
        assert status == 422, content
        behind_tls_proxy = {"Host": "maghub.example.com", "Origin": "https://maghub.example.com"}
        status, _, content = await raw_request(
            maghub, "POST", "/api/models", {**behind_tls_proxy, "Content-Type": "application/json"}, b'{"name": "bad"}'
        )
        assert status == 422, content
        foreign = {**own, "Origin": "http://other.corp.example"}
        status, _, _ = await raw_request(maghub, "POST", "/api/models", foreign, b"{}")
        assert status == 403


def test_allowed_hosts_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAGHUB_ALLOWED_HOSTS", " Maghub.Example.com, 192.168.1.20,[fe80::1], .corp.example ")
    assert Settings().allowed_hosts == ["maghub.example.com", "192.168.1.20", "fe80::1", ".corp.example"]
    for bad, hint in (("*", "DNS rebinding"), ("http://maghub.example.com", "no scheme"), ("a b", "no scheme")):
        monkeypatch.setenv("MAGHUB_ALLOWED_HOSTS", bad)
        with pytest.raises(ValidationError, match=hint):
            Settings()


def test_the_listen_address_is_an_allowed_host_unless_it_is_a_wildcard() -> None:
    def policy(listen_host: str) -> RequestOriginPolicy:
        return RequestOriginPolicy.build(listen_host=listen_host, allowed_hosts=[], cors_origins=[], local_mode=False)

    assert policy("192.168.1.20").host_allowed("192.168.1.20:8000")
    assert policy("maghub.lan").host_allowed("maghub.lan")
    assert policy("fe80::1").host_allowed("[fe80::1]:8000")
    assert not policy("192.168.1.20").host_allowed("192.168.1.21:8000")
    for wildcard in ("0.0.0.0", "::"):
        assert not policy(wildcard).host_allowed(f"{wildcard}:8000")
        assert policy(wildcard).host_allowed("127.0.0.1:8000")
    # Clients on this machine (the CLI, the demo model) reach a wildcard listener over loopback.
    assert local_url("0.0.0.0", 8000) == "http://127.0.0.1:8000"
    assert local_url("::", 8000) == "http://[::1]:8000"
    assert local_url("192.168.1.20", 8000) == "http://192.168.1.20:8000"
    assert [host_name(h) for h in ("[::1]:80", "::1", "Example.COM.:8000", "")] == ["::1", "::1", "example.com", ""]


async def test_websocket_handshakes_are_checked_like_state_changing_requests() -> None:
    """Browsers apply no CORS to WebSockets, so the guard checks both Host and Origin of every
    handshake; other scope types (lifespan) pass untouched."""
    policy = RequestOriginPolicy.build(listen_host="127.0.0.1", allowed_hosts=[], cors_origins=[], local_mode=True)
    reached: list[str] = []

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        reached.append(scope["type"])

    guard = TrustedRequestGuard(inner, policy)

    async def handshake(scope_type: str, headers: dict[str, str]) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        async def receive() -> dict[str, Any]:
            return {"type": "websocket.connect"}

        scope = {
            "type": scope_type,
            "scheme": "ws",
            "path": "/",
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        }
        await guard(scope, receive, send)
        return sent

    rebound = await handshake("websocket", {"host": f"{ATTACKER}:8000", "origin": f"http://{ATTACKER}:8000"})
    assert rebound[0]["type"] == "websocket.close" and reached == []
    cross_site = await handshake("websocket", {"host": "127.0.0.1:8000", "origin": "https://attacker.example"})
    assert cross_site[0]["type"] == "websocket.close" and reached == []
    own = await handshake("websocket", {"host": "127.0.0.1:8000", "origin": "http://127.0.0.1:8000"})
    assert own == [] and reached == ["websocket"]
    assert await handshake("lifespan", {}) == [] and reached == ["websocket", "lifespan"]


def test_serving_on_every_interface(tmp_path: Path) -> None:
    """``--host 0.0.0.0`` (auth mode): clients on this machine reach it over loopback, other names need
    MAGHUB_ALLOWED_HOSTS, which the start message says; the wildcard itself is no name to use."""
    server = MaghubProcess(tmp_path / "data", "--host", "0.0.0.0", "--auth")
    try:
        server.wait_ready()
        for host, status in (("127.0.0.1", 200), ("localhost", 200), ("0.0.0.0", 421), ("192.0.2.7", 421)):
            response = httpx2.get(f"{server.url}/api/health", headers={"Host": f"{host}:{server.port}"}, timeout=10)
            assert response.status_code == status, (host, response.text)
    finally:
        output = server.stop()
    assert "only loopback names are served" in output and "MAGHUB_ALLOWED_HOSTS" in output

    server = MaghubProcess(tmp_path / "data", "--host", "0.0.0.0", "--auth", env={"MAGHUB_ALLOWED_HOSTS": "192.0.2.7"})
    try:
        server.wait_ready()
        response = httpx2.get(f"{server.url}/api/health", headers={"Host": f"192.0.2.7:{server.port}"}, timeout=10)
        assert response.status_code == 200, response.text
    finally:
        output = server.stop()
    assert "only loopback names are served" not in output
