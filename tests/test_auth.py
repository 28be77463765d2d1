"""Users, login, JWT checks and the security model (SPEC §9) over real HTTP."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from maghub.errors import ConfigurationError
from maghub.service.server import check_host_allowed
from maghub.settings import Settings
from maghub.testing.harness import RunningMaghub, running_maghub
from maghub.testing.process import MAGHUB_COMMAND, env_without_maghub_settings

STDIO = {"type": "stdio", "command": sys.executable, "args": ["-m", "maghub.testing.mcp_servers.toolbox"]}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def login(maghub: RunningMaghub, username: str, password: str) -> str:
    response = await maghub.client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_envelope_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == code
    assert body["error"]["message"] and isinstance(body["error"]["details"], dict)
    assert TIMESTAMP.match(body["timestamp"])
    assert "Traceback" not in response.text


async def test_login_and_me(secured: RunningMaghub) -> None:
    response = await secured.client.post("/api/auth/login", json={"username": "alice", "password": "alice-password"})
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 720 * 60 and body["user"]["role"] == "user"
    me = await secured.client.get("/api/auth/me", headers=bearer(body["access_token"]))
    assert me.json()["username"] == "alice" and me.json()["last_login_at"]
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["iss"] == "maghub" and claims["aud"] == "maghub-api" and claims["sub"] == "alice"
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"


async def test_bad_logins_look_alike_and_are_throttled(secured: RunningMaghub) -> None:
    client = secured.client
    wrong = await client.post("/api/auth/login", json={"username": "alice", "password": "nope-nope"})
    unknown = await client.post("/api/auth/login", json={"username": "mallory", "password": "nope-nope"})
    assert_envelope_error(wrong, 401, "UNAUTHORIZED")
    assert_envelope_error(unknown, 401, "UNAUTHORIZED")
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]
    assert_envelope_error(await client.post("/api/auth/login", json={"username": "alice"}), 400, "VALIDATION_ERROR")

    for _ in range(4):
        await client.post("/api/auth/login", json={"username": "alice", "password": "guess"})
    locked = await client.post("/api/auth/login", json={"username": "alice", "password": "alice-password"})
    assert_envelope_error(locked, 429, "TOO_MANY_REQUESTS")
    assert int(locked.headers["Retry-After"]) > 0
    # Another user from the same address is not locked out.
    assert await login(secured, "root", "root-password")


def forge(data_dir: Path, **overrides: object) -> str:
    secret = (data_dir / "jwt.secret").read_bytes()
    now = datetime.now(UTC)
    claims = {
        "sub": "root",
        "uid": "x",
        "role": "admin",
        "iat": now,
        "exp": now + timedelta(hours=1),
        "iss": "maghub",
        "aud": "maghub-api",
    }
    key = overrides.pop("key", secret)
    algorithm = overrides.pop("algorithm", "HS256")
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm=algorithm)  # type: ignore[arg-type]


async def test_token_matrix_in_auth_mode(secured: RunningMaghub) -> None:
    client, data_dir = secured.client, secured.settings.data_dir
    admin_token = await login(secured, "root", "root-password")
    root_id = (await client.get("/api/auth/me", headers=bearer(admin_token))).json()["id"]
    good = forge(data_dir, uid=root_id)
    assert (await client.get("/api/servers", headers=bearer(good))).status_code == 200

    bad_tokens = {
        "none": None,
        "garbage": "not.a.token",
        "expired": forge(data_dir, uid=root_id, exp=datetime.now(UTC) - timedelta(minutes=5)),
        "bad signature": forge(data_dir, uid=root_id, key=b"another secret that is long enough!!"),
        "alg none": forge(data_dir, uid=root_id, key=None, algorithm="none"),
        "wrong audience": forge(data_dir, uid=root_id, aud="someone-else"),
        "wrong issuer": forge(data_dir, uid=root_id, iss="evil"),
        "unknown user": forge(data_dir, uid=root_id, sub="ghost"),
    }
    for label, token in bad_tokens.items():
        headers = bearer(token) if token else {}
        assert_envelope_error(await client.get("/api/servers", headers=headers), 401, "UNAUTHORIZED")
        for path in ("/models", "/api/models", "/mcp/status"):
            mag = await client.get(path, headers=headers)
            assert mag.status_code == 401, (label, path, mag.text)
            assert "detail" in mag.json() and mag.headers["WWW-Authenticate"] == "Bearer"

    await secured.runtime.users.create("root2", "root2-password", admin=True)  # root is not the last admin
    await secured.runtime.users.set_disabled("root", True)
    assert (await client.get("/models", headers=bearer(admin_token))).status_code == 401
    for path in ("/health", "/api/health"):
        assert (await client.get(path)).status_code == 200  # liveness stays open


async def test_user_versus_admin(secured: RunningMaghub) -> None:
    client = secured.client
    user, admin = (
        bearer(await login(secured, "alice", "alice-password")),
        bearer(await login(secured, "root", "root-password")),
    )
    assert (await client.get("/models", headers=user)).status_code == 200
    model = {"name": "m", "base_url": "http://127.0.0.1:1/v1", "model": "m"}
    assert (await client.post("/models", json=model, headers=user)).status_code == 403
    assert (await client.post("/models", json=model, headers=admin)).status_code == 200

    stdio = {"id": "tb", "config": STDIO}
    assert_envelope_error(await client.post("/api/servers", json=stdio, headers=user), 403, "FORBIDDEN")
    assert (await client.post("/mcp/add", json={"mcpServers": {"tb": STDIO}}, headers=user)).status_code == 403
    assert (await client.post("/system/shutdown", headers=user)).status_code == 403
    assert_envelope_error(await client.post("/api/servers/test", json=STDIO, headers=user), 403, "FORBIDDEN")
    assert (await client.post("/api/servers/validate", json=STDIO, headers=user)).status_code == 200
    assert_envelope_error(await client.post("/api/servers/validate", json=STDIO), 401, "UNAUTHORIZED")

    # Not only stdio: an HTTP server that points anywhere is shared configuration too.
    remote = {"id": "remote", "config": {"type": "streamable-http", "url": "http://127.0.0.1:9/mcp", "enabled": False}}
    assert_envelope_error(await client.post("/api/servers", json=remote, headers=user), 403, "FORBIDDEN")
    created = await client.post("/api/servers", json=stdio, headers=admin)
    assert created.status_code == 201, created.text
    assert_envelope_error(await client.delete("/api/servers/tb", headers=user), 403, "FORBIDDEN")
    assert (await client.delete("/api/servers/tb", headers=admin)).status_code == 200


async def test_local_mode_hub_needs_a_token_except_validate_and_test(maghub: RunningMaghub) -> None:
    client = maghub.client
    assert_envelope_error(await client.get("/api/servers"), 401, "UNAUTHORIZED")
    assert (await client.get("/models")).status_code == 200  # MAG routes stay open locally
    validate = await client.post("/api/servers/validate", json=STDIO)
    assert validate.status_code == 200 and validate.json()["data"]["isValid"] is True
    tested = await client.post("/api/servers/test", json=STDIO)
    assert tested.status_code == 200 and tested.json()["data"]["success"] is True
    await maghub.runtime.users.create("bob", "bob-password")
    token = await login(maghub, "bob", "bob-password")
    assert (await client.get("/api/servers", headers=bearer(token))).json()["success"] is True
    # The hub knows its caller's role in local mode too: its writes are for admins.
    remote = {"id": "remote", "config": {"type": "streamable-http", "url": "http://127.0.0.1:9/mcp", "enabled": False}}
    assert_envelope_error(await client.post("/api/servers", json=remote, headers=bearer(token)), 403, "FORBIDDEN")


def test_public_address_needs_auth(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="MAGHUB_AUTH_ENABLED"):
        check_host_allowed(Settings(host="0.0.0.0", data_dir=tmp_path))
    check_host_allowed(Settings(host="0.0.0.0", data_dir=tmp_path, auth_enabled=True))
    check_host_allowed(Settings(host="::1", data_dir=tmp_path))


def users_cli(data_dir: Path, *args: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MAGHUB_COMMAND, "users", "create", *args, "--data-dir", str(data_dir)],
        input=f"{password}\n",
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        env=env_without_maghub_settings(),
    )


async def test_users_create_cli_then_login(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    created = users_cli(data_dir, "admin", "--admin", password="correct horse battery")
    assert created.returncode == 0, created.stderr
    assert "Created admin 'admin'" in created.stdout
    duplicate = users_cli(data_dir, "admin", password="correct horse battery")
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr
    short = users_cli(data_dir, "eve", password="short")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    bad_name = users_cli(data_dir, "eve/../x", password="long enough password")
    assert bad_name.returncode == 2 and "Usernames" in bad_name.stderr

    async with running_maghub(Settings(data_dir=data_dir, port=0, auth_enabled=True)) as maghub:
        token = await login(maghub, "admin", "correct horse battery")
        me = await maghub.client.get("/api/auth/me", headers=bearer(token))
        assert me.json()["role"] == "admin"


async def test_cors_allows_only_configured_origins_and_secrets_are_private(maghub: RunningMaghub) -> None:
    def preflight(origin: str) -> dict[str, str]:
        return {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        }

    allowed = await maghub.client.options("/api/models", headers=preflight("http://localhost:5173"))
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    refused = await maghub.client.options("/api/models", headers=preflight("https://evil.example"))
    assert "access-control-allow-origin" not in refused.headers
    simple = await maghub.client.get("/models", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers

    for name in ("jwt.secret", "secret.key"):
        assert (maghub.settings.data_dir / name).stat().st_mode & 0o777 == 0o600
    assert maghub.settings.data_dir.stat().st_mode & 0o077 == 0


async def test_pages_of_other_sites_cannot_change_anything(maghub: RunningMaghub) -> None:
    """CORS hides answers, but a browser still sends a cross-site form post or upload: such requests
    are refused, while clients without an Origin (curl, the CLI) and allowed origins go through."""
    package = {"file": ("g.zip", b"not a zip", "application/zip")}
    evil = await maghub.client.post(
        "/api/graphs/import_package_from_file", files=package, headers={"Origin": "https://evil.example"}
    )
    assert evil.status_code == 403 and "Cross-site request refused" in evil.json()["detail"]
    evil_delete = await maghub.client.delete("/models/m", headers={"Origin": "null"})
    assert evil_delete.status_code == 403
    reading = await maghub.client.get("/api/models", headers={"Origin": "https://evil.example"})
    assert reading.status_code == 200  # answers are hidden from the page by CORS, not refused

    for headers in ({}, {"Origin": "http://localhost:5173"}, {"Origin": maghub.url}):
        response = await maghub.client.post("/api/graphs/import_package_from_file", files=package, headers=headers)
        assert response.status_code == 400, (headers, response.text)  # reached the route: not a zip
