"""Shared test fixtures.

Async tests run under the anyio pytest plugin in auto mode (asyncio backend): MCP client sessions must be
entered and left in one task, which pytest-asyncio fixtures do not guarantee.

Tests that use ``database_url`` (directly or through ``maghub``) run once on SQLite and once on
PostgreSQL. PostgreSQL tests skip when no server is reachable, unless
``MAGHUB_TEST_REQUIRE_POSTGRES=1`` (set by CI), which turns that into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from maghub.llm.client import LLMClient
from maghub.llm.config import ModelConfig
from maghub.settings import Settings
from maghub.testing.harness import RunningMaghub, running_maghub
from maghub.testing.mcp_servers.harness import new_marker, wait_for_no_marked_processes
from maghub.testing.scripted_llm import ScriptedLLM, echo_reply

POSTGRES_ADMIN_URL = os.environ.get("MAGHUB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("MAGHUB_TEST_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"  # session scope: session- and module-scoped async fixtures share one loop


@pytest.fixture(scope="session")
async def scripted_llm_server() -> AsyncIterator[ScriptedLLM]:
    """One scripted LLM for the whole run; use ``llm`` to get it with rules and log reset."""
    async with ScriptedLLM() as server:
        yield server


@pytest.fixture
def llm(scripted_llm_server: ScriptedLLM) -> ScriptedLLM:
    scripted_llm_server.reset()
    scripted_llm_server.latency = 0.0
    scripted_llm_server.default_reply = echo_reply
    return scripted_llm_server


@pytest.fixture
async def client(llm: ScriptedLLM) -> AsyncIterator[LLMClient]:
    """Our LLM client for the scripted model (retries without waiting)."""
    assert llm.base_url is not None
    config = ModelConfig(name="test/agent", base_url=llm.base_url, api_key="sk-test", model="agent-model")
    async with LLMClient(config, retry_base_delay=0.001, retry_max_delay=0.005) as llm_client:
        yield llm_client


async def _postgres_admin():
    import asyncpg

    try:
        return await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        message = f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL} ({exc}); set MAGHUB_TEST_POSTGRES_URL"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)


# The fast lane (``-m "not slow"``) runs every database test on SQLite; the full run adds PostgreSQL.
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'maghub.db'}"
        return
    admin = await _postgres_admin()
    name = f"maghub_test_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


# Modules whose every test runs maghub, its CLI or a server as a separate process.
_PROCESS_MODULES = frozenset(
    {
        "test_cli",
        "test_cli_generate",
        "test_cli_graph",
        "test_cli_mcp",
        "test_graph_resume_process",
        "test_mcp_orphans",
        "test_mcp_processes",
        "test_mcp_third_party",
        "test_startup",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark as ``slow`` what starts processes: tests that tag real stdio servers (the ``marker``
    fixture) and the modules above. ``python3 run.py test -m "not slow"`` leaves them out."""
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        if module in _PROCESS_MODULES or "marker" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(data_dir=data_dir, database_url=database_url, port=0, log_level="warning")


@pytest.fixture
async def maghub(settings: Settings) -> AsyncIterator[RunningMaghub]:
    async with running_maghub(settings) as running:
        yield running


@pytest.fixture
async def marker() -> AsyncIterator[str]:
    """A tag for the MCP server processes a test starts; the test fails if any outlives it."""
    marker = new_marker()
    yield marker
    leftover = await wait_for_no_marked_processes(marker, timeout=5)
    assert not leftover, f"processes left running after the test: {leftover}"


@pytest.fixture
async def secured(settings: Settings) -> AsyncIterator[RunningMaghub]:
    """maghub in auth mode with an admin ``root`` and a user ``alice`` (password: ``<name>-password``)."""
    settings.auth_enabled = True
    async with running_maghub(settings) as maghub:
        await maghub.runtime.users.create("root", "root-password", admin=True)
        await maghub.runtime.users.create("alice", "alice-password")
        yield maghub


@pytest.fixture
def sign_in(secured: RunningMaghub) -> Callable[[str], Awaitable[dict[str, str]]]:
    """``await sign_in("alice")``: the Authorization header of a fresh token of that user of ``secured``."""

    async def headers(username: str) -> dict[str, str]:
        body = {"username": username, "password": f"{username}-password"}
        response = await secured.client.post("/api/auth/login", json=body)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return headers
