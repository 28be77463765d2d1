"""MCPManager against real fixture servers over real stdio, SSE and streamable HTTP.

Every test checks afterwards that none of the processes it started (servers, their children, HTTP
fixture servers) is still running.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any

import anyio
import anyio.to_thread
import pytest

from maghub.mcp.connections.status import ConnectionState, FailureKind
from maghub.mcp.connections.manager import MCPManager
from maghub.mcp.configuration.server_config import ServerConfig, parse_server_entry
from maghub.mcp.errors import (
    ServerDisabledError,
    ServerNotConnectedError,
    ToolNotFoundError,
    ToolTimeoutError,
    UnknownServerError,
)
from maghub.testing.mcp_servers.harness import (
    FAST_POLICY,
    MARKER_VARIABLE,
    eventually,
    fixture_server,
    marked_processes,
    process_alive,
)
from maghub.testing.mcp_servers.launch import HttpFixtureServer, serving_over_http
from maghub.testing.process import free_port

TRANSPORTS = ["stdio", "sse", "streamable-http"]
# A stdio "server" that reads its input and never answers: a hung handshake.
NEVER_ANSWERS = ["-c", "import sys; sys.stdin.read()"]

Launch = Callable[..., Awaitable[ServerConfig]]


@pytest.fixture
async def launch(marker: str) -> AsyncIterator[Launch]:
    """Makes a config for a fixture server; HTTP ones are started now and killed after the test."""
    async with AsyncExitStack() as stack:

        async def launch(name: str, transport: str = "stdio", module: str = "toolbox", **fields: Any) -> ServerConfig:
            if transport == "stdio":
                return fixture_server(name, marker, module, **fields)
            server = await stack.enter_async_context(
                serving_over_http(transport, f"maghub.testing.mcp_servers.{module}", env={MARKER_VARIABLE: marker})  # type: ignore[arg-type]
            )
            return parse_server_entry(name, {"transportType": transport, "url": server.url, **fields})

        yield launch


@pytest.fixture
async def manager(marker: str, launch: Launch) -> AsyncIterator[MCPManager]:
    async with MCPManager(FAST_POLICY) as manager:
        yield manager


def never_answering(name: str, marker: str) -> ServerConfig:
    return parse_server_entry(
        name, {"command": sys.executable, "args": NEVER_ANSWERS, "env": {MARKER_VARIABLE: marker}}
    )


def state_of(manager: MCPManager, name: str) -> ConnectionState:
    return manager.server_status(name).state


# --- the basics, over each transport ------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_connect_call_and_disconnect(manager: MCPManager, launch: Launch, transport: str) -> None:
    config = await launch("box", transport)
    applied = await manager.apply([config])
    assert applied.added == ["box"]
    assert state_of(manager, "box") == ConnectionState.CONNECTING  # at once: apply does not wait

    status = await manager.connect("box")
    assert status.state == ConnectionState.CONNECTED, status.last_error
    assert {"echo", "add", "sleep", "fail"} <= {tool.name for tool in status.tools}
    assert status.last_connected is not None and status.protocol_version and status.server_name == "toolbox"
    assert (status.pid is not None) == (transport == "stdio")

    echo = await manager.call_tool("box", "echo", {"text": "hi"})
    assert (echo.text, echo.is_error, echo.content) == ("hi", False, [{"type": "text", "text": "hi"}])
    assert (await manager.call_tool("box", "add", {"a": 2, "b": 3})).text == "5.0"

    forecast = await manager.call_tool("box", "forecast", {"city": "Oslo"})
    assert forecast.structured_content == {"city": "Oslo", "temperature_c": 21.5, "conditions": "sunny"}
    structured = await manager.call_tool("box", "structured_only", {"value": 4})
    assert structured.text == '{"value": 4, "double": 8}'

    failed = await manager.call_tool("box", "fail", {"message": "disk full"})
    assert failed.is_error and failed.text == "Error executing tool fail: disk full"
    crashed = await manager.call_tool("box", "boom")
    assert crashed.is_error and crashed.text.startswith("Error") and "internal detail" not in crashed.text
    with pytest.raises(ToolNotFoundError, match="'nope'.*echo"):
        await manager.call_tool("box", "nope")

    status = await manager.disconnect("box")
    assert (status.state, status.tools) == (ConnectionState.DISCONNECTED, ())
    with pytest.raises(ServerNotConnectedError, match="connect it first"):
        await manager.call_tool("box", "echo", {"text": "hi"})


async def test_initialize_era_servers_work_too(manager: MCPManager, launch: Launch) -> None:
    await manager.apply([await launch("old", module="legacy")])
    status = await manager.connect("old")
    assert status.state == ConnectionState.CONNECTED, status.last_error
    assert status.protocol_version == "2025-11-25"
    assert (await manager.call_tool("old", "echo", {"text": "hello"})).text == "hello"


async def test_server_printing_junk_to_stdout_works(manager: MCPManager, launch: Launch) -> None:
    await manager.apply([await launch("noisy", module="noisy")])
    assert (await manager.connect("noisy")).state == ConnectionState.CONNECTED
    assert (await manager.call_tool("noisy", "echo", {"text": "fine"})).text == "fine"


# --- timeouts and cancellation ------------------------------------------------------------------------


async def test_hung_call_times_out_and_the_server_is_told(manager: MCPManager, launch: Launch) -> None:
    await manager.apply([await launch("box")])
    await manager.connect("box")
    token = uuid.uuid4().hex
    started = time.monotonic()
    with pytest.raises(ToolTimeoutError, match="did not answer within 0.5 s") as caught:
        await manager.call_tool("box", "wait_for_cancel", {"token": token, "seconds": 30}, timeout=0.5)
    assert time.monotonic() - started < 2
    assert (caught.value.server, caught.value.tool) == ("box", "wait_for_cancel")

    async def server_saw_the_cancel() -> bool:
        return (await manager.call_tool("box", "call_state", {"token": token})).text == "cancelled"

    with anyio.fail_after(5):
        while not await server_saw_the_cancel():
            await anyio.sleep(0.05)
    assert (await manager.call_tool("box", "echo", {"text": "still here"})).text == "still here"


async def test_the_servers_timeout_setting_applies(manager: MCPManager, launch: Launch) -> None:
    await manager.apply([await launch("slow", timeout=0.3)])
    await manager.connect("slow")
    with pytest.raises(ToolTimeoutError) as caught:
        await manager.call_tool("slow", "sleep", {"seconds": 10})
    assert caught.value.timeout == 0.3


async def test_a_cancelled_caller_cancels_the_call(manager: MCPManager, launch: Launch) -> None:
    await manager.apply([await launch("box")])
    await manager.connect("box")
    token = uuid.uuid4().hex
    with anyio.move_on_after(0.3) as scope:
        await manager.call_tool("box", "wait_for_cancel", {"token": token, "seconds": 30})
    assert scope.cancelled_caught
    with anyio.fail_after(5):
        while (await manager.call_tool("box", "call_state", {"token": token})).text != "cancelled":
            await anyio.sleep(0.05)


# --- concurrency --------------------------------------------------------------------------------------


async def test_twenty_concurrent_calls_on_one_server(manager: MCPManager, launch: Launch) -> None:
    await manager.apply([await launch("box")])
    await manager.connect("box")
    results: list[str] = []

    async def call(index: int) -> None:
        results.append((await manager.call_tool("box", "echo", {"text": str(index)})).text)
        results.append((await manager.call_tool("box", "sleep", {"seconds": 0.5})).text)

    started = time.monotonic()
    async with anyio.create_task_group() as calls:
        for index in range(20):
            calls.start_soon(call, index)
    elapsed = time.monotonic() - started
    assert sorted(results) == sorted([str(i) for i in range(20)] + ["slept 0.5"] * 20)
    assert elapsed < 3, f"20 concurrent 0.5 s calls took {elapsed:.2f} s: they ran one after another"


async def test_five_servers_start_at_once(manager: MCPManager, launch: Launch, marker: str) -> None:
    configs = [await launch(f"s{i}") for i in range(5)]
    started = time.monotonic()
    await manager.apply(configs)
    assert time.monotonic() - started < 0.5, "apply waited for connections"
    assert all(status.state == ConnectionState.CONNECTING for status in manager.status().values())
    # All five processes run before any of them is connected: they start in parallel.
    await eventually(lambda: len(marked_processes(marker)) == 5, 5, "five server processes at once")
    await manager.wait_settled(timeout=20)
    assert {status.state for status in manager.status().values()} == {ConnectionState.CONNECTED}


async def test_connect_parallelism_is_bounded(marker: str) -> None:
    policy = replace(FAST_POLICY, max_parallel_connects=2)
    async with MCPManager(policy) as manager:
        await manager.apply([never_answering(f"hung{i}", marker) for i in range(4)])
        await eventually(lambda: len(marked_processes(marker)) == 2, 10, "two servers started")
        # A third would start at once if the bound were not kept: give it the time a start takes.
        await anyio.sleep(0.3)
        assert len(await anyio.to_thread.run_sync(marked_processes, marker)) == 2
        assert {status.state for status in manager.status().values()} == {ConnectionState.CONNECTING}


async def test_unreachable_servers_do_not_delay_the_others(manager: MCPManager, launch: Launch, marker: str) -> None:
    closed_port = parse_server_entry("gone", {"url": f"http://127.0.0.1:{free_port()}/mcp"})
    started = time.monotonic()
    await manager.apply([never_answering("hung", marker), closed_port, await launch("good")])
    assert time.monotonic() - started < 0.5

    await eventually(lambda: state_of(manager, "good") == ConnectionState.CONNECTED, 10, "the good server connected")
    assert time.monotonic() - started < FAST_POLICY.handshake_timeout  # not after the hung one gave up
    assert state_of(manager, "hung") == ConnectionState.CONNECTING
    assert (await manager.call_tool("good", "echo", {"text": "ok"})).text == "ok"

    await eventually(lambda: manager.server_status("gone").last_error is not None, 5, "the closed port reported")
    gone = manager.server_status("gone")
    assert gone.last_error_kind == FailureKind.CONNECTION_FAILED
    assert gone.reconnect_attempts >= 1 and "cannot connect" in (gone.last_error or "")
    with pytest.raises(ServerNotConnectedError):
        await manager.call_tool("gone", "echo", {"text": "x"})


# --- dropped connections ------------------------------------------------------------------------------


async def test_killed_stdio_server_comes_back_by_itself(manager: MCPManager, launch: Launch) -> None:
    await manager.apply([await launch("box")])
    first = await manager.connect("box")
    assert first.pid is not None
    states: set[ConnectionState] = set()

    async def watch_states() -> None:
        while True:
            states.add(state_of(manager, "box"))
            await anyio.sleep(0.005)

    async with anyio.create_task_group() as watcher:
        watcher.start_soon(watch_states)
        os.kill(first.pid, signal.SIGKILL)
        await eventually(
            lambda: (
                state_of(manager, "box") == ConnectionState.CONNECTED and manager.server_status("box").pid != first.pid
            ),
            10,
            "reconnected with a new process",
        )
        watcher.cancel_scope.cancel()

    assert ConnectionState.ERROR in states
    status = manager.server_status("box")
    assert status.last_error is None and status.last_error_kind is None  # connected: no current error
    assert status.recent_errors[-1].kind == FailureKind.CONNECTION_LOST  # but the history has it
    assert status.reconnect_attempts == 0  # reset by the successful reconnect
    assert not process_alive(first.pid)
    assert (await manager.call_tool("box", "echo", {"text": "back"})).text == "back"


async def test_server_crashing_mid_call(manager: MCPManager, launch: Launch) -> None:
    await manager.apply([await launch("box")])
    await manager.connect("box")
    with pytest.raises(ServerNotConnectedError, match="lost during the call"):
        await manager.call_tool("box", "crash")
    await eventually(lambda: state_of(manager, "box") == ConnectionState.CONNECTED, 10, "reconnected")


@pytest.mark.parametrize("transport", ["sse", "streamable-http"])
async def test_http_server_killed_and_restarted(manager: MCPManager, marker: str, transport: str) -> None:
    server = HttpFixtureServer("maghub.testing.mcp_servers.toolbox", transport, env={MARKER_VARIABLE: marker})  # type: ignore[arg-type]
    await server.astart()
    try:
        await manager.apply([parse_server_entry("web", {"transportType": transport, "url": server.url})])
        assert (await manager.connect("web")).state == ConnectionState.CONNECTED

        await server.akill()
        await eventually(lambda: state_of(manager, "web") == ConnectionState.ERROR, 5, "the loss noticed")
        with pytest.raises(ServerNotConnectedError):
            await manager.call_tool("web", "echo", {"text": "x"})

        await server.astart()  # same port
        await eventually(lambda: state_of(manager, "web") == ConnectionState.CONNECTED, 10, "reconnected")
        assert (await manager.call_tool("web", "echo", {"text": "back"})).text == "back"
    finally:
        await server.akill()


async def test_manual_disconnect_is_not_undone(manager: MCPManager, launch: Launch, marker: str) -> None:
    await manager.apply([await launch("box")])
    await manager.connect("box")
    await manager.disconnect("box")
    await anyio.sleep(5 * FAST_POLICY.backoff_initial)  # several retry periods
    assert state_of(manager, "box") == ConnectionState.DISCONNECTED
    assert not await anyio.to_thread.run_sync(marked_processes, marker)
    assert (await manager.connect("box")).state == ConnectionState.CONNECTED  # and it can come back


# --- configuration changes ----------------------------------------------------------------------------


async def test_apply_changes_only_what_changed(manager: MCPManager, launch: Launch) -> None:
    kept, moved, retimed, dropped = [await launch(name) for name in ("kept", "moved", "retimed", "dropped")]
    await manager.apply([kept, moved, retimed, dropped])
    await manager.wait_settled(timeout=20)
    before = manager.status()
    assert {s.state for s in before.values()} == {ConnectionState.CONNECTED}

    added = await launch("added")
    moved2 = moved.model_copy(update={"env": {**moved.env, "EXTRA": "1"}})
    retimed2 = retimed.model_copy(update={"timeout": 0.2})
    result = await manager.apply([kept, moved2, retimed2, added])
    assert (result.added, result.changed, result.removed, result.unchanged) == (
        ["added"],
        ["moved", "retimed"],
        ["dropped"],
        ["kept"],
    )
    # Untouched and timeout-only changes keep their session; a changed command line reconnects.
    assert manager.server_status("kept").pid == before["kept"].pid
    assert state_of(manager, "kept") == ConnectionState.CONNECTED
    assert manager.server_status("retimed").pid == before["retimed"].pid
    assert state_of(manager, "moved") == ConnectionState.CONNECTING
    assert "dropped" not in manager.status() and not process_alive(before["dropped"].pid or 0)
    assert not process_alive(before["moved"].pid or 0)

    await manager.wait_settled(timeout=20)
    assert {s.state for s in manager.status().values()} == {ConnectionState.CONNECTED}
    with pytest.raises(ToolTimeoutError):
        await manager.call_tool("retimed", "sleep", {"seconds": 5})


async def test_disable_and_enable(manager: MCPManager, launch: Launch) -> None:
    config = await launch("box")
    await manager.apply([config])
    pid = (await manager.connect("box")).pid

    await manager.apply([config.model_copy(update={"enabled": False})])
    status = manager.server_status("box")
    assert (status.state, status.enabled) == (ConnectionState.DISCONNECTED, False)
    assert not process_alive(pid or 0)
    with pytest.raises(ServerDisabledError, match="enable it"):
        await manager.connect("box")
    with pytest.raises(ServerDisabledError):
        await manager.call_tool("box", "echo", {"text": "x"})

    await manager.apply([config])
    await manager.wait_settled(["box"], timeout=20)
    assert state_of(manager, "box") == ConnectionState.CONNECTED


async def test_disabled_servers_are_never_started(manager: MCPManager, launch: Launch, marker: str) -> None:
    await manager.apply([await launch("off", enabled=False)])
    await manager.connect_all()
    assert state_of(manager, "off") == ConnectionState.DISCONNECTED
    assert not await anyio.to_thread.run_sync(marked_processes, marker)


async def test_unknown_servers(manager: MCPManager) -> None:
    for action in (
        lambda: manager.connect("ghost"),
        lambda: manager.disconnect("ghost"),
        lambda: manager.call_tool("ghost", "echo"),
    ):
        with pytest.raises(UnknownServerError, match="'ghost' is not configured"):
            await action()
    with pytest.raises(UnknownServerError):
        manager.openai_tools(["ghost"])


# --- tools --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["toolbox", "legacy"])
async def test_tool_list_follows_the_server(manager: MCPManager, launch: Launch, module: str) -> None:
    # 2026 servers announce changes on a subscription, initialize-era ones with a notification.
    await manager.apply([await launch("box", module=module)])
    await manager.connect("box")

    def tool_names() -> set[str]:
        return {tool.name for tool in manager.tools(["box"])}

    await manager.call_tool("box", "add_tool", {"name": "fresh"})
    await eventually(lambda: "fresh" in tool_names(), 5, "the new tool listed")
    assert (await manager.call_tool("box", "fresh")).text == "fresh"
    await manager.call_tool("box", "remove_tool", {"name": "echo"})
    await eventually(lambda: "echo" not in tool_names(), 5, "the removed tool gone")


async def test_openai_tools_over_live_servers(manager: MCPManager, launch: Launch) -> None:
    await manager.apply([await launch("a"), await launch("b")])
    await manager.connect_all()

    schemas, routes = manager.openai_tools(["a"])
    assert "echo" in routes and routes["echo"] == ("a", "echo")
    schemas, routes = manager.openai_tools(["a", "b"])
    assert "echo" not in routes and routes["a__echo"] == ("a", "echo") and routes["b__echo"] == ("b", "echo")
    assert len(schemas) == len(routes) == 2 * len(manager.tools(["a"]))
    server, tool = routes["b__add"]
    assert (await manager.call_tool(server, tool, {"a": 1, "b": 1})).text == "2.0"


async def test_connect_all_and_the_status_snapshot(manager: MCPManager, launch: Launch) -> None:
    await manager.apply([await launch("one"), await launch("two", enabled=False)])
    statuses = await manager.connect_all()
    assert statuses["one"].state == ConnectionState.CONNECTED and statuses["one"].tool_count > 10
    assert (statuses["two"].state, statuses["two"].enabled) == (ConnectionState.DISCONNECTED, False)


async def test_manager_must_be_entered() -> None:
    with pytest.raises(RuntimeError, match="async with MCPManager"):
        await MCPManager().apply([])
