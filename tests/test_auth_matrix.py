"""Who may call what in auth mode (SPEC §9), as one table: every route of the app × {admin, owner,
another user, no token} → the status class it must answer.

The routes are read from the app itself, so a route added without a row here fails the test (and a
row whose route is gone fails it too). MAG routes are mounted twice (``/x`` and ``/api/x``): one row
covers both and both are requested. "owner" is ``alice``: she owns the graph, chat and run a row is
about; for instance-wide things (models, MCP servers, users) she is simply a user. Each request is
one that succeeds for a caller who may make it: a row's ``prepare`` makes a fresh resource when the
request uses one up, so a refusal can only come from who is asking.

SQLite only, to stay fast: the roles are decided above the database; the ownership and user tests in
``test_graph_ownership.py`` and ``test_users_api.py`` run on both backends.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from graph_samples import graph, node

from maghub.testing.harness import RunningMaghub
from maghub.testing.mcp_servers.launch import HttpFixtureServer, serving_over_http
from maghub.testing.scripted_llm import ScriptedLLM

CALLERS = ("anonymous", "other", "owner", "admin")  # refusals first: an allowed call may use a resource up
OK = "2xx"

PUBLIC = dict.fromkeys(CALLERS, OK)
SIGNED_IN = {"anonymous": 401, "other": OK, "owner": OK, "admin": OK}
ADMIN = {"anonymous": 401, "other": 403, "owner": 403, "admin": OK}
OWNER_OR_ADMIN = {"anonymous": 401, "other": 403, "owner": OK, "admin": OK}
OWNER_ONLY = {"anonymous": 401, "other": 404, "owner": OK, "admin": 404}  # others' things do not exist for them
# Admins pass and then meet a conflict: registering a tool for real would build a virtual environment.
ADMIN_THEN_CONFLICT = {"anonymous": 401, "other": 403, "owner": 403, "admin": 409}

HUB_OR_AUTH = ("/api/servers", "/api/auth", "/api/users", "/api/keys")
UNPREFIXED = ("/health", "/docs", "/redoc", "/openapi.json", "/metrics", "/ui", *HUB_OR_AUTH)


@dataclass
class Call:
    path: str
    json: Any = None
    files: dict[str, Any] | None = None


@dataclass
class World:
    """What the rows act on: alice's graph, chat and run, an MCP server, a model, the users' tokens."""

    maghub: RunningMaghub
    headers: dict[str, dict[str, str]]
    mcp_url: str
    tmp_path: Path
    counter: Iterator[int] = field(default_factory=itertools.count)

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{next(self.counter)}"

    async def as_admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.maghub.client.request(method, path, headers=self.headers["admin"], **kwargs)
        assert response.status_code < 300, (path, response.text)
        return response

    async def alices_graph(self) -> str:
        name = self.unique("g")
        response = await self.maghub.client.post("/graphs", json=solo(name), headers=self.headers["owner"])
        assert response.status_code == 200, response.text
        return name

    async def alices_chat(self) -> str:
        conversation_id = self.unique("chat")
        body = {"user_prompt": "hi", "model_name": "m", "conversation_id": conversation_id, "stream": False}
        response = await self.maghub.client.post("/chat/completions", json=body, headers=self.headers["owner"])
        assert response.status_code == 200, response.text
        return conversation_id

    async def alices_run(self) -> str:
        body = {"graph_name": "shared", "input_text": "x"}
        response = await self.maghub.client.post("/graphs/execute", json=body, headers=self.headers["owner"])
        assert response.status_code == 200, response.text
        first = next(line for line in response.text.splitlines() if line.startswith("data: "))
        return json.loads(first.removeprefix("data: "))["conversation_id"]

    async def alices_schedule(self) -> str:
        body = {"graph_name": "shared", "input_text": "x", "interval_seconds": 3600}
        response = await self.maghub.client.post("/schedules", json=body, headers=self.headers["owner"])
        assert response.status_code == 200, response.text
        return response.json()["id"]

    async def alices_generation(self) -> str:
        body = {"requirement": "design something", "model_name": "m"}
        response = await self.maghub.client.post("/graphs/generate", json=body, headers=self.headers["owner"])
        assert response.status_code == 200, response.text
        first = next(line for line in response.text.splitlines() if line.startswith("data: "))
        return json.loads(first.removeprefix("data: "))["conversation_id"]

    async def package(self) -> bytes:
        """A package of a graph that is not stored (so importing it creates it); it adds no model or server."""
        name = await self.alices_graph()
        data = (await self.as_admin("GET", f"/graphs/{name}/package")).content
        await self.as_admin("DELETE", f"/graphs/{name}")
        return data

    def write(self, name: str, data: bytes) -> str:
        path = self.tmp_path / name
        path.write_bytes(data)
        return str(path)


def solo(name: str) -> dict[str, Any]:
    return graph(name, node("A", ["start"], ["end"]))


def http_server(url: str, **fields: Any) -> dict[str, Any]:
    return {"url": url, "transportType": "streamable_http", **fields}


Prepare = Callable[[World, str], Awaitable[Call]]


def fixed(path: str, **fields: Any) -> Prepare:
    async def prepare(world: World, caller: str) -> Call:
        return Call(path, **fields)

    return prepare


@dataclass
class Row:
    method: str
    path: str
    """As the app declares it (MAG routes without ``/api``)."""
    expect: dict[str, str | int]
    prepare: Prepare
    label: str = ""
    shares: str = ""
    """Rows that act on one shared thing (the MCP configuration, which ``POST /mcp/config`` replaces
    whole, and the ``spare`` server in it; the user ``carol``) run one after another; all others run
    concurrently."""


# --- the rows' requests -----------------------------------------------------------------------------


async def revoke_alices_key(world: World, caller: str) -> Call:
    response = await world.maghub.client.post(
        "/api/keys", json={"name": world.unique("key")}, headers=world.headers["owner"]
    )
    assert response.status_code == 200, response.text
    return Call(f"/api/keys/{response.json()['id']}")


async def save_new_graph(world: World, caller: str) -> Call:
    return Call("/graphs", json=solo(world.unique("new")))


async def save_over_alices_graph(world: World, caller: str) -> Call:
    return Call("/graphs", json={**solo(await world.alices_graph()), "description": "changed"})


async def delete_alices_graph(world: World, caller: str) -> Call:
    return Call(f"/graphs/{await world.alices_graph()}")


async def rename_alices_graph(world: World, caller: str) -> Call:
    return Call(f"/graphs/{await world.alices_graph()}/rename/{world.unique('renamed')}")


async def import_json_from_path(world: World, caller: str) -> Call:
    name = world.unique("file")
    return Call("/graphs/import", json={"file_path": world.write(f"{name}.json", json.dumps(solo(name)).encode())})


async def import_json_upload(world: World, caller: str) -> Call:
    name = world.unique("upload")
    upload = (f"{name}.json", json.dumps(solo(name)), "application/json")
    return Call("/graphs/import_from_file", files={"file": upload})


async def import_package_from_path(world: World, caller: str) -> Call:
    path = world.write(f"{world.unique('p')}.zip", await world.package())
    return Call("/graphs/import_package", json={"file_path": path})


async def import_package_upload(world: World, caller: str) -> Call:
    return Call("/graphs/import_package_from_file", files={"file": ("p.zip", await world.package(), "application/zip")})


async def new_chat(world: World, caller: str) -> Call:
    body = {"user_prompt": "hi", "model_name": "m", "conversation_id": world.unique("c"), "stream": False}
    return Call("/chat/completions", json=body)


async def continue_alices_chat(world: World, caller: str) -> Call:
    body = {"user_prompt": "more", "model_name": "m", "conversation_id": await world.alices_chat(), "stream": False}
    return Call("/chat/completions", json=body)


def on_alices_chat(suffix: str, body: Callable[[str], Any] | None = None) -> Prepare:
    """A request on a new chat of alice's; ``body`` makes the JSON body from the conversation id."""

    async def prepare(world: World, caller: str) -> Call:
        conversation_id = await world.alices_chat()
        return Call(f"/chat/conversations/{conversation_id}{suffix}", json=body(conversation_id) if body else None)

    return prepare


async def run_shared_graph(world: World, caller: str) -> Call:
    return Call("/graphs/execute", json={"graph_name": "shared", "input_text": "go"})


async def continue_alices_run(world: World, caller: str) -> Call:
    return Call("/graphs/execute", json={"conversation_id": await world.alices_run(), "input_text": "again"})


def on_alices_run(suffix: str = "") -> Prepare:
    async def prepare(world: World, caller: str) -> Call:
        return Call(f"/graphs/runs/{await world.alices_run()}{suffix}")

    return prepare


def on_alices_schedule(suffix: str = "", body: Any = None) -> Prepare:
    async def prepare(world: World, caller: str) -> Call:
        return Call(f"/schedules/{await world.alices_schedule()}{suffix}", json=body)

    return prepare


async def add_model(world: World, caller: str) -> Call:
    return Call("/models", json={"name": world.unique("model"), "base_url": "http://127.0.0.1:9/v1", "model": "x"})


def on_new_model(method: str) -> Prepare:
    async def prepare(world: World, caller: str) -> Call:
        name = world.unique("model")
        await world.as_admin("POST", "/models", json={"name": name, "base_url": "http://127.0.0.1:9/v1", "model": "x"})
        update = {"base_url": "http://127.0.0.1:9/v2", "model": "y"} if method == "PUT" else None
        return Call(f"/models/{name}", json=update)

    return prepare


async def add_mcp_server(world: World, caller: str) -> Call:
    return Call("/mcp/add", json={"mcpServers": {world.unique("s"): http_server(world.mcp_url, disabled=True)}})


async def replace_mcp_config(world: World, caller: str) -> Call:
    return Call("/mcp/config", json=(await world.as_admin("GET", "/mcp/config")).json())


async def remove_mcp_server(world: World, caller: str) -> Call:
    name = world.unique("s")
    await world.as_admin("POST", "/mcp/add", json={"mcpServers": {name: http_server(world.mcp_url, disabled=True)}})
    return Call("/mcp/remove", json=[name])


async def hub_create(world: World, caller: str) -> Call:
    config = {"type": "streamable-http", "url": world.mcp_url, "enabled": False}
    return Call("/api/servers", json={"id": world.unique("hub"), "config": config})


def on_new_hub_server(method: str) -> Prepare:
    async def prepare(world: World, caller: str) -> Call:
        server_id = world.unique("hub")
        config = {"type": "streamable-http", "url": world.mcp_url, "enabled": False}
        await world.as_admin("POST", "/api/servers", json={"id": server_id, "config": config})
        update = {"config": {**config, "timeout": 30}} if method == "PUT" else None
        return Call(f"/api/servers/{server_id}", json=update)

    return prepare


async def hub_connect_spare(world: World, caller: str) -> Call:
    await world.as_admin("POST", "/mcp/disconnect/spare")  # the hub's connect wants a disconnected server
    return Call("/api/servers/spare/connect")


async def hub_disconnect_spare(world: World, caller: str) -> Call:
    await world.as_admin("POST", "/mcp/connect/spare")  # and its disconnect a connected one
    return Call("/api/servers/spare/disconnect")


async def hub_test(world: World, caller: str) -> Call:
    return Call("/api/servers/test", json={"type": "streamable-http", "url": world.mcp_url})


async def create_user(world: World, caller: str) -> Call:
    return Call("/api/users", json={"username": world.unique("user"), "password": "a long password"})


async def delete_user(world: World, caller: str) -> Call:
    if caller != "admin":
        return Call("/api/users/carol")  # refused before anything is deleted: no new account needed
    name = world.unique("doomed")
    await world.as_admin("POST", "/api/users", json={"username": name, "password": "a long password"})
    return Call(f"/api/users/{name}")


async def log_in(world: World, caller: str) -> Call:
    return Call("/api/auth/login", json={"username": "bob", "password": "bob-password"})


async def new_graph_generation(world: World, caller: str) -> Call:
    return Call("/graphs/generate", json={"requirement": "design something", "model_name": "m"})


async def continue_alices_generation(world: World, caller: str) -> Call:
    body = {"requirement": "more", "model_name": "m", "conversation_id": await world.alices_generation()}
    return Call("/graphs/generate", json=body)


async def new_tool_generation(world: World, caller: str) -> Call:
    return Call("/mcp/generate", json={"requirement": "design a tool", "model_name": "m"})


async def register_tool_named_like_a_server(world: World, caller: str) -> Call:
    design = {"folder_name": "spare", "script_files": {"main.py": "print('x')"}, "readme": "# spare"}
    return Call("/mcp/register-tool", json=design)


async def shutdown(world: World, caller: str) -> Call:
    return Call("/system/shutdown")


TITLE, TAGS = {"title": "t"}, {"tags": ["x"]}

ROWS = [
    # open to everyone
    Row("GET", "/health", PUBLIC, fixed("/health")),
    Row("GET", "/docs", PUBLIC, fixed("/docs")),
    Row("GET", "/docs/oauth2-redirect", PUBLIC, fixed("/docs/oauth2-redirect")),
    Row("GET", "/redoc", PUBLIC, fixed("/redoc")),
    Row("GET", "/openapi.json", PUBLIC, fixed("/openapi.json")),
    # the web console's files: public (its pages sign in through the API); "/" sends browsers to it
    # (an API client, which asks for no HTML, gets the 404 it always got)
    Row("GET", "/", dict.fromkeys(CALLERS, 404), fixed("/")),
    Row("GET", "/ui", dict.fromkeys(CALLERS, 307), fixed("/ui")),
    Row("GET", "/ui/{path:path}", PUBLIC, fixed("/ui/graphs")),
    Row("POST", "/api/auth/login", PUBLIC, log_in),
    Row("GET", "/api/auth/me", SIGNED_IN, fixed("/api/auth/me")),
    # users: admins only
    Row("GET", "/api/users", ADMIN, fixed("/api/users")),
    Row("POST", "/api/users", ADMIN, create_user),
    Row("POST", "/api/users/{username}/disable", ADMIN, fixed("/api/users/carol/disable"), shares="carol"),
    Row("POST", "/api/users/{username}/enable", ADMIN, fixed("/api/users/carol/enable"), shares="carol"),
    Row(
        "PUT",
        "/api/users/{username}/password",
        ADMIN,
        fixed("/api/users/carol/password", json={"password": "new password!"}),
        shares="carol",
    ),
    Row("DELETE", "/api/users/{username}", ADMIN, delete_user, shares="carol"),
    # models: instance-wide
    # API keys: their owner's alone
    Row("GET", "/api/keys", SIGNED_IN, fixed("/api/keys")),
    Row("POST", "/api/keys", SIGNED_IN, fixed("/api/keys", json={"name": "a script"})),
    Row("DELETE", "/api/keys/{key_id}", OWNER_ONLY, revoke_alices_key),
    Row("GET", "/models", SIGNED_IN, fixed("/models")),
    Row("GET", "/models/{model_name:path}", SIGNED_IN, fixed("/models/m")),
    Row("POST", "/models", ADMIN, add_model),
    Row("PUT", "/models/{model_name:path}", ADMIN, on_new_model("PUT")),
    Row("DELETE", "/models/{model_name:path}", ADMIN, on_new_model("DELETE")),
    # MCP servers (MAG routes): instance-wide; calling a tool outside a chat or run is for admins
    Row("GET", "/mcp/config", SIGNED_IN, fixed("/mcp/config")),
    Row("GET", "/mcp/status", SIGNED_IN, fixed("/mcp/status")),
    Row("GET", "/mcp/tools", SIGNED_IN, fixed("/mcp/tools"), shares="mcp"),
    Row("POST", "/mcp/config", ADMIN, replace_mcp_config, shares="mcp"),
    Row("POST", "/mcp/add", ADMIN, add_mcp_server, shares="mcp"),
    Row("POST", "/mcp/remove", ADMIN, remove_mcp_server, shares="mcp"),
    Row("POST", "/mcp/connect/{server_name}", ADMIN, fixed("/mcp/connect/spare"), shares="mcp"),
    Row("POST", "/mcp/disconnect/{server_name}", ADMIN, fixed("/mcp/disconnect/spare"), shares="mcp"),
    Row(
        "POST",
        "/mcp/test-tool",
        ADMIN,
        fixed("/mcp/test-tool", json={"server_name": "spare", "tool_name": "echo", "params": {"text": "x"}}),
        shares="mcp",
    ),
    # AI-generated tools: everyone sees them; registering or designing one writes and runs code
    Row("GET", "/mcp/ai-tools", SIGNED_IN, fixed("/mcp/ai-tools")),
    Row("GET", "/mcp/ai-generator-template", SIGNED_IN, fixed("/mcp/ai-generator-template")),
    Row("POST", "/mcp/register-tool", ADMIN_THEN_CONFLICT, register_tool_named_like_a_server, shares="mcp"),
    Row("POST", "/mcp/generate", ADMIN, new_tool_generation),
    # MCP servers (hub): the same rules; validate runs nothing, test starts the server
    Row("GET", "/api/servers", SIGNED_IN, fixed("/api/servers")),
    Row("GET", "/api/servers/{server_id}", SIGNED_IN, fixed("/api/servers/spare")),
    Row("GET", "/api/servers/{server_id}/status", SIGNED_IN, fixed("/api/servers/spare/status")),
    Row("POST", "/api/servers/validate", SIGNED_IN, fixed("/api/servers/validate", json={"command": "echo"})),
    Row("POST", "/api/servers/test", ADMIN, hub_test),
    Row("POST", "/api/servers", ADMIN, hub_create, shares="mcp"),
    Row("PUT", "/api/servers/{server_id}", ADMIN, on_new_hub_server("PUT"), shares="mcp"),
    Row("DELETE", "/api/servers/{server_id}", ADMIN, on_new_hub_server("DELETE"), shares="mcp"),
    Row("POST", "/api/servers/{server_id}/connect", ADMIN, hub_connect_spare, shares="mcp"),
    Row("POST", "/api/servers/{server_id}/disconnect", ADMIN, hub_disconnect_spare, shares="mcp"),
    # graphs: everyone reads and runs them; the owner or an admin changes them
    Row("GET", "/graphs", SIGNED_IN, fixed("/graphs")),
    Row("GET", "/graphs/{graph_name}", SIGNED_IN, fixed("/graphs/shared")),
    Row("GET", "/graphs/{graph_name}/readme", SIGNED_IN, fixed("/graphs/shared/readme")),
    Row("GET", "/graphs/{graph_name}/export", SIGNED_IN, fixed("/graphs/shared/export")),
    Row("GET", "/graphs/{graph_name}/package", SIGNED_IN, fixed("/graphs/shared/package")),
    Row("GET", "/graphs/{graph_name}/generate_mcp", SIGNED_IN, fixed("/graphs/shared/generate_mcp")),
    Row("POST", "/graphs", SIGNED_IN, save_new_graph, "a new graph"),
    Row("POST", "/graphs", OWNER_OR_ADMIN, save_over_alices_graph, "over alice's graph"),
    Row("DELETE", "/graphs/{graph_name}", OWNER_OR_ADMIN, delete_alices_graph),
    Row("PUT", "/graphs/{old_name}/rename/{new_name}", OWNER_OR_ADMIN, rename_alices_graph),
    Row("POST", "/graphs/import_from_file", SIGNED_IN, import_json_upload),
    Row("POST", "/graphs/import_package_from_file", SIGNED_IN, import_package_upload),
    Row("POST", "/graphs/import", ADMIN, import_json_from_path),  # reads the server's disk
    Row("POST", "/graphs/import_package", ADMIN, import_package_from_path),
    # graph generation: everyone designs; a design session is its owner's alone
    Row("GET", "/prompt-template", SIGNED_IN, fixed("/prompt-template")),
    Row("GET", "/optimize-prompt-template", SIGNED_IN, fixed("/optimize-prompt-template?graph_name=shared")),
    Row("POST", "/graphs/generate", SIGNED_IN, new_graph_generation, "a new design"),
    Row("POST", "/graphs/generate", OWNER_ONLY, continue_alices_generation, "continuing alice's design"),
    # runs and chats: their owner's alone
    Row("POST", "/graphs/execute", SIGNED_IN, run_shared_graph, "a new run"),
    Row("POST", "/graphs/execute", OWNER_ONLY, continue_alices_run, "continuing alice's run"),
    Row("GET", "/graphs/runs/{conversation_id}", OWNER_ONLY, on_alices_run()),
    Row("POST", "/graphs/runs/{conversation_id}/cancel", OWNER_ONLY, on_alices_run("/cancel")),
    Row(
        "POST",
        "/schedules",
        SIGNED_IN,
        fixed("/schedules", json={"graph_name": "shared", "input_text": "x", "interval_seconds": 3600}),
    ),
    Row("GET", "/schedules", SIGNED_IN, fixed("/schedules")),
    Row("GET", "/schedules/{schedule_id}", OWNER_ONLY, on_alices_schedule()),
    Row("PUT", "/schedules/{schedule_id}", OWNER_ONLY, on_alices_schedule(body={"interval_seconds": 60})),
    Row("DELETE", "/schedules/{schedule_id}", OWNER_ONLY, on_alices_schedule()),
    Row("POST", "/schedules/{schedule_id}/pause", OWNER_ONLY, on_alices_schedule("/pause")),
    Row("POST", "/schedules/{schedule_id}/resume", OWNER_ONLY, on_alices_schedule("/resume")),
    Row("GET", "/metrics", SIGNED_IN, fixed("/metrics")),
    Row("POST", "/chat/completions", SIGNED_IN, new_chat, "a new chat"),
    Row("POST", "/chat/completions", OWNER_ONLY, continue_alices_chat, "continuing alice's chat"),
    Row("GET", "/chat/conversations", SIGNED_IN, fixed("/chat/conversations")),
    Row("GET", "/chat/conversations/{conversation_id}", OWNER_ONLY, on_alices_chat("")),
    Row(
        "PUT",
        "/chat/conversations/{conversation_id}/status",
        OWNER_ONLY,
        on_alices_chat("/status", lambda _: {"status": "favorite"}),
    ),
    Row("PUT", "/chat/conversations/{conversation_id}/title", OWNER_ONLY, on_alices_chat("/title", lambda _: TITLE)),
    Row("PUT", "/chat/conversations/{conversation_id}/tags", OWNER_ONLY, on_alices_chat("/tags", lambda _: TAGS)),
    Row(
        "POST",
        "/chat/conversations/{conversation_id}/compact",
        OWNER_ONLY,
        on_alices_chat("/compact", lambda conversation_id: {"conversation_id": conversation_id}),
    ),
    Row("DELETE", "/chat/conversations/{conversation_id}/permanent", OWNER_ONLY, on_alices_chat("/permanent")),
    # last: an admin's shutdown stops the server
    Row("POST", "/system/shutdown", ADMIN, shutdown),
]


def declared_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, MAG routes once, without their ``/api`` twin."""
    routes = set()
    for route in app.routes:
        contexts = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        for context in contexts:
            for method in getattr(context, "methods", None) or ():
                if method == "HEAD":
                    continue
                path = context.path
                if path.startswith("/api/") and not path.startswith(HUB_OR_AUTH):
                    path = path.removeprefix("/api")
                routes.add((method, path))
    return routes


def prefixes(row: Row) -> tuple[str, ...]:
    return ("",) if row.path == "/" or row.path.startswith(UNPREFIXED) else ("", "/api")


def status_class(status: int) -> str | int:
    return OK if 200 <= status < 300 else status


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_every_route_for_every_caller(
    secured: RunningMaghub,
    sign_in: Callable[[str], Awaitable[dict[str, str]]],
    llm: ScriptedLLM,
    tmp_path: Path,
) -> None:
    rows = {(row.method, row.path) for row in ROWS}
    app = secured.server.config.app
    declared = declared_routes(app)
    assert declared - rows == set(), f"routes without a row in the auth matrix: {sorted(declared - rows)}"
    assert rows - declared == set(), f"rows for routes the app does not have: {sorted(rows - declared)}"

    async with serving_over_http("streamable-http") as mcp_server:
        world = World(secured, await tokens(secured, sign_in), mcp_server.url, tmp_path)
        await set_up(world, llm, mcp_server)
        mismatches = await walk(world, [row for row in ROWS if row.prepare is not shutdown])
        # Last: shutdown. The admin's cell once (the server stops; its /api twin shares the handler).
        shutdown_row = next(row for row in ROWS if row.prepare is shutdown)
        for prefix in prefixes(shutdown_row):
            for caller in CALLERS[:-1]:
                mismatches += await check(world, shutdown_row, prefix, caller)
        mismatches += await check(world, shutdown_row, "", "admin")
        assert not mismatches, "\n".join(mismatches)


async def tokens(
    maghub: RunningMaghub, sign_in: Callable[[str], Awaitable[dict[str, str]]]
) -> dict[str, dict[str, str]]:
    await asyncio.gather(*(maghub.runtime.users.create(name, f"{name}-password") for name in ("bob", "carol")))
    other, owner, admin = await asyncio.gather(sign_in("bob"), sign_in("alice"), sign_in("root"))
    return {"anonymous": {}, "other": other, "owner": owner, "admin": admin}


async def set_up(world: World, llm: ScriptedLLM, mcp_server: HttpFixtureServer) -> None:
    model = {"name": "m", "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted"}
    await world.as_admin("POST", "/models", json=model)
    await world.as_admin("POST", "/mcp/add", json={"mcpServers": {"spare": http_server(mcp_server.url)}})
    response = await world.maghub.client.post("/graphs", json=solo("shared"), headers=world.headers["owner"])
    assert response.status_code == 200, response.text


async def walk(world: World, rows: list[Row]) -> list[str]:
    """Every cell of ``rows``: rows that share something in order, in one task; the others concurrently."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.shares or f"{row.method} {row.path} {row.label}", []).append(row)
    limit = asyncio.Semaphore(6)
    mismatches: list[str] = []

    async def run(group: list[Row]) -> None:
        async with limit:
            for row in group:
                for prefix in prefixes(row):
                    for caller in CALLERS:
                        mismatches.extend(await check(world, row, prefix, caller))

    async with asyncio.TaskGroup() as tasks:
        for group in groups.values():
            tasks.create_task(run(group))
    return mismatches


async def check(world: World, row: Row, prefix: str, caller: str) -> list[str]:
    call = await row.prepare(world, caller)
    response = await world.maghub.client.request(
        row.method,
        prefix + call.path,
        json=call.json,
        files=call.files,
        headers=world.headers[caller],
    )
    got, expected = status_class(response.status_code), row.expect[caller]
    if got == expected:
        return []
    label = f" ({row.label})" if row.label else ""
    return [f"{row.method} {prefix}{row.path}{label} as {caller}: {got}, expected {expected}: {response.text[:300]}"]


def test_the_matrix_helpers_see_a_missing_row() -> None:
    """The coverage check itself: a route without a row is reported."""

    class FakeRoute:
        def __init__(self, path: str, methods: set[str]) -> None:
            self.path, self.methods = path, methods

    app = SimpleNamespace(
        routes=[
            FakeRoute("/graphs", {"GET", "HEAD"}),
            FakeRoute("/api/graphs", {"GET"}),
            FakeRoute("/api/users/x", {"PATCH"}),
        ]
    )
    assert declared_routes(app) == {("GET", "/graphs"), ("PATCH", "/api/users/x")}
