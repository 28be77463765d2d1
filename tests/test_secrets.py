"""Secrets (SPEC §9) on a real maghub, on SQLite and PostgreSQL: a model with a key, extra headers and
a base URL with credentials, a stdio MCP server with ``--token`` that prints its arguments and fails,
and an HTTP one with credentials in its URL that cannot be reached; then every read route, the log
lines (through maghub's own formatters), the stored bytes and an exported package are searched for
the secrets. Masked values posted back keep the stored secrets; masked values with nothing stored
are refused; rows stored in clear by older versions load and are encrypted at startup."""

from __future__ import annotations

import io
import json
import logging
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from graph_samples import graph, node
from sqlalchemy import text

from maghub.logs import JsonFormatter, TextFormatter
from maghub.settings import Settings
from maghub.testing.harness import RunningMaghub, running_maghub
from maghub.testing.process import free_port

MODEL_KEY = "sk-model-key-7Hq2Lx9Pz4Wc"
HEADER_SECRET = "hdr-secret-5Kd8Qw2Mz7"
BASE_URL_PASSWORD = "basepw-3Nf7Xc1Vb9"
STDIO_TOKEN = "stdio-token-8Jm4Rt6Yp2"
STDIO_API_KEY = "stdio-apikey-4Wq9Zr1Tx6"
HTTP_PASSWORD = "SECRETPW-6Gh3Kd"
HTTP_API_KEY = "SECRETKEY-2Lp8Vn"
ENV_SECRET = "env-secret-1Bx5Cn8Mq3"
AUTH_HEADER = "Bearer auth-hdr-9Pq2Ws4Ez7"
SECRETS = (
    MODEL_KEY,
    HEADER_SECRET,
    BASE_URL_PASSWORD,
    STDIO_TOKEN,
    STDIO_API_KEY,
    HTTP_PASSWORD,
    HTTP_API_KEY,
    ENV_SECRET,
    AUTH_HEADER.split()[1],
)

# A stdio server that prints its arguments (secrets included) to stderr and exits: its failure message
# quotes that stderr, and maghub retries it with backoff, logging each failure.
ECHO_ARGS_AND_EXIT = "import sys; print('started with', sys.argv, file=sys.stderr, flush=True); sys.exit(3)"


def model(port: int) -> dict[str, Any]:
    return {
        "name": "m",
        "base_url": f"http://proxy:{BASE_URL_PASSWORD}@127.0.0.1:{port}/v1",
        "api_key": MODEL_KEY,
        "model": "model-x",
        "extra_headers": {"X-Api-Token": HEADER_SECRET},
    }


def servers(port: int) -> dict[str, Any]:
    return {
        "cli": {
            "command": sys.executable,
            "args": ["-c", ECHO_ARGS_AND_EXIT, "--token", STDIO_TOKEN, f"--api-key={STDIO_API_KEY}"],
            "env": {"SERVICE_SECRET": ENV_SECRET, "LOG_LEVEL": "debug"},
        },
        "web": {
            "transportType": "streamable_http",
            "url": f"https://user:{HTTP_PASSWORD}@127.0.0.1:{port}/mcp?api_key={HTTP_API_KEY}&region=eu",
            "headers": {"Authorization": AUTH_HEADER},
        },
    }


def assert_no_secret(where: str, data: str | bytes) -> None:
    for secret in SECRETS:
        needle = secret.encode() if isinstance(data, bytes) else secret
        assert needle not in data, f"{secret} found in {where}"


@pytest.fixture
def log_output() -> Iterator[dict[str, io.StringIO]]:
    """Every log record, at debug level, through maghub's text and JSON formatters (as on its stderr)."""
    streams = {"text": io.StringIO(), "json": io.StringIO()}
    handlers = []
    for name, formatter in (("text", TextFormatter()), ("json", JsonFormatter())):
        handler = logging.StreamHandler(streams[name])
        handler.setFormatter(formatter)
        handlers.append(handler)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    root.handlers += handlers
    try:
        yield streams
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(level)


async def admin_headers(maghub: RunningMaghub) -> dict[str, str]:
    await maghub.runtime.users.create("admin", "admin-password", admin=True)
    login = await maghub.client.post("/api/auth/login", json={"username": "admin", "password": "admin-password"})
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def wait_for_retries(maghub: RunningMaghub, names: list[str], attempts: int = 2) -> dict[str, Any]:
    with anyio.fail_after(30):
        while True:
            status = (await maghub.client.get("/mcp/status")).json()
            if all(status[name]["reconnectAttempts"] >= attempts for name in names):
                return status
            await anyio.sleep(0.1)


async def stored_text(maghub: RunningMaghub) -> bytes:
    """What the database holds: the SQLite files' bytes, or PostgreSQL's rows as text."""
    database = maghub.runtime.database
    if database.is_sqlite:
        await database.dispose()  # the WAL into the file
        file = Path(maghub.settings.resolved_database_url.split("///", 1)[1])
        stored = b"".join(path.read_bytes() for path in file.parent.glob(f"{file.name}*"))
        assert b"mcp_servers" in stored
        return stored
    async with database.read() as session:
        rows = [
            *(await session.execute(text("SELECT * FROM models"))).all(),
            *(await session.execute(text("SELECT * FROM mcp_servers"))).all(),
        ]
    assert rows
    return "\n".join(str(tuple(row)) for row in rows).encode()


async def test_no_secret_in_responses_logs_storage_or_exports(
    maghub: RunningMaghub, log_output: dict[str, io.StringIO]
) -> None:
    client = maghub.client
    closed_port = free_port()
    assert (await client.post("/models", json=model(closed_port))).status_code == 200
    added = await client.post("/mcp/add", json={"mcpServers": servers(closed_port)})
    assert added.status_code == 200, added.text
    used = graph("g", node("A", ["start"], ["end"], mcp_servers=["cli", "web"]))
    assert (await client.post("/graphs", json=used)).status_code == 200
    hub = await admin_headers(maghub)

    status = await wait_for_retries(maghub, ["cli", "web"])
    # The failures say what happened, with the secrets masked.
    assert "started with" in status["cli"]["lastError"] and "--token" in status["cli"]["lastError"]
    assert "cannot connect to https://…:SEC…h3Kd@127.0.0.1" in status["web"]["lastError"]
    chat = await client.post("/chat/completions", json={"user_prompt": "hi", "model_name": "m", "stream": False})

    responses = {
        "POST /mcp/add": added,
        "POST /chat/completions": chat,
        "GET /models": await client.get("/models"),
        "GET /models/m": await client.get("/models/m"),
        "GET /api/models/m": await client.get("/api/models/m"),
        "GET /mcp/config": await client.get("/mcp/config"),
        "GET /mcp/status": await client.get("/mcp/status"),
        "GET /api/mcp/status": await client.get("/api/mcp/status"),
        "GET /api/servers": await client.get("/api/servers", headers=hub),
        "POST /mcp/connect/all": await client.post("/mcp/connect/all"),
        "POST /mcp/connect/web": await client.post("/mcp/connect/web"),
        "POST /api/servers/test": await client.post("/api/servers/test", json=servers(closed_port)["web"]),
        "POST /api/servers/validate": await client.post("/api/servers/validate", json=servers(closed_port)["cli"]),
    }
    for name in ("cli", "web"):
        responses[f"GET /api/servers/{name}"] = await client.get(f"/api/servers/{name}", headers=hub)
        responses[f"GET /api/servers/{name}/status"] = await client.get(f"/api/servers/{name}/status", headers=hub)
    for route, response in responses.items():
        assert response.status_code < 500 or route == "POST /chat/completions", (route, response.text)
        assert_no_secret(route, response.text)
    assert chat.status_code == 502 and "Model 'm' (model-x at http://…:bas…1Vb9@127.0.0.1" in chat.text

    shown = responses["GET /mcp/config"].json()["mcpServers"]
    assert shown["cli"]["args"][2:] == ["--token", "std…6Yp2", "--api-key=std…1Tx6"]
    assert shown["cli"]["env"] == {"SERVICE_SECRET": "env…8Mq3", "LOG_LEVEL": "debug"}
    assert shown["web"]["url"] == f"https://…:SEC…h3Kd@127.0.0.1:{closed_port}/mcp?api_key=SEC…p8Vn&region=eu"
    got = responses["GET /models/m"].json()["data"]
    assert got["extra_headers"] == {"X-Api-Token": "hdr…2Mz7"} and got["api_key"] == "sk-…z4Wc"
    assert got["base_url"] == f"http://…:bas…1Vb9@127.0.0.1:{closed_port}/v1"
    listed = responses["GET /api/servers"].json()["data"]["servers"]
    assert {server["id"]: server["config"].get("url") for server in listed}["web"] == shown["web"]["url"]

    package = await client.get("/api/graphs/g/package")
    assert package.status_code == 200
    assert_no_secret("the package", package.content)
    with zipfile.ZipFile(io.BytesIO(package.content)) as archive:
        assert_no_secret("the package", b"".join(archive.read(name) for name in archive.namelist()))
        exported = json.loads(archive.read("attachment/mcp.json"))["mcpServers"]
    assert exported["cli"]["args"][3:] == ["", "--api-key="]
    assert exported["web"]["url"] == f"https://127.0.0.1:{closed_port}/mcp?api_key=&region=eu"

    for name, stream in log_output.items():
        lines = stream.getvalue()
        assert "MCP server unavailable" in lines and "server stderr" in lines, name
        assert_no_secret(f"the {name} log", lines)
    assert_no_secret("the database", await stored_text(maghub))


async def test_masked_values_posted_back_keep_the_stored_secrets(maghub: RunningMaghub) -> None:
    client = maghub.client
    port = free_port()
    config = servers(port)
    for entry in config.values():
        entry["disabled"] = True  # nothing to connect: only what is stored matters here
    assert (await client.post("/models", json=model(port))).status_code == 200
    assert (await client.post("/mcp/add", json={"mcpServers": config})).status_code == 200
    hub = await admin_headers(maghub)

    async def stored() -> tuple[Any, Any, Any]:
        runtime = maghub.runtime
        return await runtime.models.get_config("m"), await runtime.mcp.get("cli"), await runtime.mcp.get("web")

    original = await stored()

    # PUT /models with what GET returned, a parameter changed.
    shown_model = (await client.get("/models/m")).json()["data"]
    assert (await client.put("/models/m", json={**shown_model, "temperature": 0.5})).status_code == 200
    kept = await maghub.runtime.models.get_config("m")
    assert kept.temperature == 0.5
    assert (kept.api_key, kept.base_url, kept.extra_headers) == (
        original[0].api_key,
        original[0].base_url,
        original[0].extra_headers,
    )
    # An edited URL keeps its masked password; a new header value replaces the old one.
    edited = {
        **shown_model,
        "base_url": shown_model["base_url"].replace("/v1", "/v2"),
        "extra_headers": {"X-Api-Token": "new-header-value"},
    }
    assert (await client.put("/models/m", json=edited)).status_code == 200
    changed = await maghub.runtime.models.get_config("m")
    assert changed.base_url == original[0].base_url.replace("/v1", "/v2")
    assert changed.extra_headers == {"X-Api-Token": "new-header-value"}

    # POST /mcp/config with what GET /mcp/config returned.
    shown = (await client.get("/mcp/config")).json()
    assert (await client.post("/mcp/config", json=shown)).status_code == 200
    assert await stored() == (changed, original[1], original[2])

    # POST /mcp/add of a server that exists: a duplicate, the stored one untouched.
    again = await client.post("/mcp/add", json={"mcpServers": {"web": shown["mcpServers"]["web"]}})
    assert again.json()["duplicate_servers"] == ["web"] and (await stored())[2] == original[2]

    # PUT /api/servers/{id} with what GET returned, one more argument in front and the URL's path changed.
    for server_id in ("cli", "web"):
        hub_config = (await client.get(f"/api/servers/{server_id}", headers=hub)).json()["data"]["config"]
        if server_id == "cli":
            hub_config["args"] = ["-u", *hub_config["args"]]
        else:
            hub_config["url"] = hub_config["url"].replace("/mcp?", "/mcp2?")
        response = await client.put(f"/api/servers/{server_id}", json={"config": hub_config}, headers=hub)
        assert response.status_code == 200, response.text
    cli, web = (await stored())[1:]
    assert cli.args == ["-u", *original[1].args] and cli.env == original[1].env
    assert web.url == original[2].url.replace("/mcp?", "/mcp2?") and web.headers == original[2].headers


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/mcp/add", {"mcpServers": {"new": {"command": "x", "args": ["--token", "…"], "disabled": True}}}),
        ("/mcp/config", {"mcpServers": {"new": {"url": "https://…:…@example.com/mcp", "disabled": True}}}),
        ("/models", {"name": "n", "base_url": "https://x.test/v1", "model": "x", "api_key": "sk-…abcd"}),
    ],
)
async def test_a_masked_value_with_no_stored_secret_is_refused(maghub: RunningMaghub, route: str, body: Any) -> None:
    response = await maghub.client.post(route, json=body)
    assert response.status_code == 400, response.text
    assert "masked value" in response.text and "send the secret itself" in response.text
    assert (await maghub.client.get("/mcp/config")).json()["mcpServers"] == {}
    assert (await maghub.client.get("/models")).json() == []


async def test_rows_stored_in_clear_load_and_are_encrypted_at_startup(settings: Settings) -> None:
    port = free_port()
    async with running_maghub(settings) as first:
        database = first.runtime.database
        config = servers(port)["cli"] | {"disabled": True}
        assert (await first.client.post("/mcp/add", json={"mcpServers": {"cli": config}})).status_code == 200
        assert (await first.client.post("/models", json=model(port))).status_code == 200
        # As an older version stored them: args, base URL and extra headers in clear.
        async with database.write() as session:
            row_config = (await session.execute(text("SELECT config FROM mcp_servers"))).scalar_one()
            row_config = json.loads(row_config) if isinstance(row_config, str) else row_config
            row_config["args"] = config["args"]
            params = {"extra_headers": model(port)["extra_headers"]}
            await session.execute(text("UPDATE mcp_servers SET config = :config"), {"config": json.dumps(row_config)})
            await session.execute(
                text("UPDATE models SET base_url = :url, params = :params, secrets_encrypted = ''"),
                {"url": model(port)["base_url"], "params": json.dumps(params)},
            )
        assert STDIO_TOKEN.encode() in await stored_text(first)
    async with running_maghub(settings) as second:
        assert (await second.runtime.mcp.get("cli")).args == config["args"]
        loaded = await second.runtime.models.get_config("m")
        assert loaded.base_url == model(port)["base_url"] and loaded.extra_headers == model(port)["extra_headers"]
        assert_no_secret("the database after a restart", await stored_text(second))


async def test_an_invalid_url_is_not_echoed_with_its_credentials(maghub: RunningMaghub) -> None:
    entry = {"type": "streamable-http", "url": f"ftp://user:{HTTP_PASSWORD}@example.com/mcp?api_key={HTTP_API_KEY}"}
    added = await maghub.client.post("/mcp/add", json={"mcpServers": {"x": entry}})
    validated = await maghub.client.post("/api/servers/validate", json=entry)
    for response in (added, validated):
        assert "ftp://…:SEC…h3Kd@example.com/mcp?api_key=SEC…p8Vn" in response.text, response.text
        assert_no_secret("the error", response.text)
    assert added.status_code == 400 and validated.json()["data"]["isValid"] is False
