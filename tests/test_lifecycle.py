"""In-flight work accounting behind POST /system/shutdown's active_sessions and graceful exit."""

from __future__ import annotations

import asyncio

import pytest

from maghub.errors import UnavailableError
from maghub.service.lifecycle import ActivityTracker, ShutdownController
from maghub.testing.harness import RunningMaghub


async def test_sessions_are_counted_and_shutdown_refuses_new_work() -> None:
    tracker = ActivityTracker()
    exits: list[str] = []
    shutdown = ShutdownController(tracker, lambda: exits.append("exit"))
    with tracker.session("chat_stream", "c1"), tracker.session("graph_run", "r1"):
        assert tracker.count == 2
        assert {s.kind for s in tracker.snapshot()} == {"chat_stream", "graph_run"}
        assert shutdown.begin() == 2
        with pytest.raises(UnavailableError, match="shutting down"), tracker.session("chat_stream"):
            pass
        assert not await tracker.wait_idle(0.05)
    assert tracker.count == 0
    assert await tracker.wait_idle(0.05)
    shutdown.exit_server()
    assert exits == ["exit"]


async def test_wait_idle_returns_when_the_last_session_ends() -> None:
    tracker = ActivityTracker()

    async def work() -> None:
        with tracker.session("graph_run"):
            await asyncio.sleep(0.2)

    task = asyncio.create_task(work())
    await asyncio.sleep(0.05)
    assert tracker.count == 1
    assert await tracker.wait_idle(2)
    await task


async def test_shutdown_endpoint_counts_sessions_in_flight_and_stops_the_server(maghub: RunningMaghub) -> None:
    activity = maghub.runtime.activity
    with activity.session("chat_stream", "held by the test"):
        response = await maghub.client.post("/system/shutdown")
        assert response.json() == {"status": "success", "message": "服务关闭过程已启动", "active_sessions": 1}
        with pytest.raises(UnavailableError), activity.session("chat_stream"):
            pass
        async with asyncio.timeout(5):
            while not maghub.server.should_exit:
                await asyncio.sleep(0.02)
