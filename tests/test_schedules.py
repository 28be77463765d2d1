"""Schedules (SPEC §14): the real app over HTTP on SQLite and PostgreSQL, the scripted LLM, real
timers. Firing exactly once per period across instances, missed periods reported after a downtime,
bad input, ownership, a deleted graph."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import pytest
from graph_samples import agent, answer_with_name, graph

from maghub.settings import Settings
from maghub.testing.harness import RunningMaghub, running_maghub
from maghub.testing.scripted_llm import ScriptedLLM


async def prepare(hub: RunningMaghub, llm: ScriptedLLM, name: str = "daily") -> None:
    model = {"name": "m", "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
    assert (await hub.client.post("/models", json=model)).status_code == 200
    assert (await hub.client.post("/graphs", json=graph(name, agent("A", ["start"], ["end"])))).status_code == 200
    llm.default_reply = answer_with_name


@pytest.fixture
async def hub(maghub: RunningMaghub, llm: ScriptedLLM) -> AsyncIterator[RunningMaghub]:
    await prepare(maghub, llm)
    yield maghub


async def create(hub: RunningMaghub, **body: Any) -> dict[str, Any]:
    response = await hub.client.post("/schedules", json={"graph_name": "daily", "input_text": "report", **body})
    assert response.status_code == 200, response.text
    return response.json()


async def detail(hub: RunningMaghub, schedule_id: str, **kwargs: Any) -> dict[str, Any]:
    response = await hub.client.get(f"/schedules/{schedule_id}", **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def started(schedule: dict[str, Any]) -> list[dict[str, Any]]:
    return [firing for firing in schedule["firings"] if firing["status"] == "started"]


@pytest.mark.slow
async def test_a_3_second_interval_fires_3_times_in_10_seconds_each_a_run_of_the_owner(hub: RunningMaghub) -> None:
    schedule = await create(hub, interval_seconds=3, user_id="carol")
    created = datetime.fromisoformat(schedule["created_at"])
    assert datetime.fromisoformat(schedule["next_run_at"]) - created == timedelta(seconds=3)

    await anyio.sleep(10)

    fired = await detail(hub, schedule["id"], params={"user_id": "carol"})
    assert len(started(fired)) == 3, fired["firings"]
    periods = sorted(datetime.fromisoformat(f["scheduled_for"]) for f in started(fired))
    assert [p - created for p in periods] == [timedelta(seconds=s) for s in (3, 6, 9)]
    for firing in started(fired):  # each a normal run, owned by the schedule's owner
        run_id = firing["conversation_id"]
        assert run_id.startswith("daily_")
        await wait_for_run(hub, run_id, "carol")
        assert (await hub.client.get(f"/graphs/runs/{run_id}")).status_code == 404  # not the default user's
    assert not [f for f in fired["firings"] if f["status"] != "started"]
    listed = (await hub.client.get("/schedules", params={"user_id": "carol"})).json()["schedules"]
    assert [s["id"] for s in listed] == [schedule["id"]] and len(listed[0]["firings"]) == 3
    assert listed[0]["last_fired_at"] is not None


async def wait_for_run(hub: RunningMaghub, run_id: str, user_id: str) -> dict[str, Any]:
    with anyio.fail_after(10):
        while True:
            view = (await hub.client.get(f"/graphs/runs/{run_id}", params={"user_id": user_id})).json()
            if view["status"] != "running":
                assert view["status"] == "completed" and view["final_result"] == "out-A", view
                return view
            await anyio.sleep(0.1)


async def test_a_cron_schedule_shows_its_next_run_in_its_time_zone(hub: RunningMaghub) -> None:
    schedule = await create(hub, cron="30 9 * * *", timezone="America/New_York", enabled=False)

    local = datetime.fromisoformat(schedule["next_run_at_local"])
    utc = datetime.fromisoformat(schedule["next_run_at"])
    assert (local.hour, local.minute) == (9, 30) and local.tzinfo is not None
    assert local == utc
    assert local.utcoffset() == ZoneInfo("America/New_York").utcoffset(local.replace(tzinfo=None))
    now = datetime.fromisoformat(schedule["created_at"])
    assert timedelta(0) < utc - now <= timedelta(days=1)
    assert schedule["enabled"] is False and schedule["cron"] == "30 9 * * *"

    changed = (await hub.client.put(f"/schedules/{schedule['id']}", json={"timezone": "Asia/Shanghai"})).json()
    shanghai = datetime.fromisoformat(changed["next_run_at_local"])
    assert (shanghai.hour, shanghai.minute, shanghai.utcoffset()) == (9, 30, timedelta(hours=8))
    assert datetime.fromisoformat(changed["next_run_at"]).astimezone(UTC).hour == 1


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"cron": "61 * * * *"}, 400, "not a valid cron expression"),
        ({"cron": "every day"}, 400, "not a valid cron expression"),
        ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, 400, "not a known time zone"),
        ({"cron": "0 9 * * *", "timezone": "America"}, 400, "not a known time zone"),
        ({"cron": "* * * * * * *"}, 400, "use five fields"),
        ({"cron": "0 0 31 2 *"}, 400, "never fires"),
        ({"interval_seconds": 0.5}, 400, "at least 1"),
        ({"interval_seconds": 5, "cron": "* * * * *"}, 400, "not both"),
        ({}, 400, "either cron"),
        ({"interval_seconds": 5, "graph_name": "nope"}, 400, "'nope' is not a saved graph"),
        ({"interval_seconds": 5, "input_text": "  "}, 400, "input_text is empty"),
        ({"interval_seconds": "soon"}, 422, "interval_seconds"),
    ],
)
async def test_bad_schedules_are_refused_naming_the_problem_and_nothing_is_stored(
    hub: RunningMaghub, body: dict[str, Any], status: int, words: str
) -> None:
    response = await hub.client.post("/schedules", json={"graph_name": "daily", "input_text": "x", **body})
    assert response.status_code == status, response.text
    assert words in response.text
    assert (await hub.client.get("/schedules")).json()["schedules"] == []


async def test_pause_resume_update_delete(hub: RunningMaghub) -> None:
    schedule = await create(hub, interval_seconds=60)
    url = f"/schedules/{schedule['id']}"
    paused = (await hub.client.post(f"{url}/pause")).json()
    assert paused["enabled"] is False
    resumed = (await hub.client.post(f"{url}/resume")).json()
    assert resumed["enabled"] is True and resumed["next_run_at"] >= paused["next_run_at"]
    bad = await hub.client.put(url, json={"cron": "not cron"})
    assert bad.status_code == 400 and "cron" in bad.json()["detail"]
    assert (await detail(hub, schedule["id"]))["interval_seconds"] == 60  # nothing half-stored
    changed = (await hub.client.put(url, json={"cron": "0 * * * *"})).json()
    assert changed["cron"] == "0 * * * *" and changed["interval_seconds"] is None
    assert (await hub.client.get(url, params={"user_id": "someone-else"})).status_code == 404
    assert (await hub.client.delete(url)).status_code == 200
    assert (await hub.client.get(url)).status_code == 404
    assert (await hub.client.post(f"{url}/pause")).status_code == 404


async def test_schedules_belong_to_their_owner_in_auth_mode(
    secured: RunningMaghub, sign_in: Callable[[str], Awaitable[dict[str, str]]], llm: ScriptedLLM
) -> None:
    root, alice = await sign_in("root"), await sign_in("alice")
    model = {"name": "m", "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
    assert (await secured.client.post("/models", json=model, headers=root)).status_code == 200
    g = graph("daily", agent("A", ["start"], ["end"]))
    assert (await secured.client.post("/graphs", json=g, headers=root)).status_code == 200
    body = {"graph_name": "daily", "input_text": "x", "interval_seconds": 60, "user_id": "root"}
    assert (await secured.client.post("/schedules", json=body)).status_code == 401
    mine = (await secured.client.post("/schedules", json=body, headers=alice)).json()
    assert mine["owner"] == "alice"  # the token decides, not user_id
    url = f"/schedules/{mine['id']}"
    for method, path in (("GET", url), ("PUT", url), ("POST", f"{url}/pause"), ("DELETE", url)):
        response = await secured.client.request(method, path, headers=root, json={} if method == "PUT" else None)
        assert response.status_code == 404, (method, path)
    assert (await secured.client.get("/schedules", headers=root)).json()["schedules"] == []
    assert [s["id"] for s in (await secured.client.get("/schedules", headers=alice)).json()["schedules"]] == [
        mine["id"]
    ]


@pytest.mark.slow
async def test_a_schedule_whose_graph_was_deleted_pauses_itself_and_says_why(hub: RunningMaghub) -> None:
    schedule = await create(hub, interval_seconds=1)
    assert (await hub.client.delete("/graphs/daily")).status_code == 200

    with anyio.fail_after(5):
        while (current := await detail(hub, schedule["id"]))["enabled"]:
            await anyio.sleep(0.2)
    assert "graph 'daily' was deleted" in current["paused_reason"]
    (failed,) = current["firings"]
    assert failed["status"] == "failed" and "daily" in failed["message"]
    refused = await hub.client.post(f"/schedules/{schedule['id']}/resume")
    assert refused.status_code == 400 and "no longer exists" in refused.json()["detail"]
    assert (await detail(hub, schedule["id"]))["enabled"] is False  # nothing half-stored


def second_instance(settings: Settings, tmp_path: Path) -> Settings:
    """Another maghub on the same database (its own data dir and port)."""
    data_dir = tmp_path / "second"
    data_dir.mkdir()
    return settings.model_copy(update={"port": 0, "data_dir": data_dir})


@pytest.mark.slow
async def test_two_instances_on_one_database_fire_each_period_once(
    hub: RunningMaghub, settings: Settings, tmp_path: Path
) -> None:
    async with running_maghub(second_instance(settings, tmp_path)) as other:
        schedule = await create(hub, interval_seconds=1)
        await anyio.sleep(4.5)
        await hub.client.post(f"/schedules/{schedule['id']}/pause")
        fired = await detail(other, schedule["id"])
    periods = [firing["scheduled_for"] for firing in started(fired)]
    assert len(periods) >= 4, fired["firings"]
    assert len(set(periods)) == len(periods), "a period fired twice"
    runs = {firing["conversation_id"] for firing in started(fired)}
    assert len(runs) == len(periods) and None not in runs


@pytest.mark.slow
async def test_periods_missed_while_everything_was_down_are_reported_not_replayed(
    settings: Settings, llm: ScriptedLLM
) -> None:
    async with running_maghub(settings.model_copy(update={"port": 0})) as first:
        await prepare(first, llm)
        schedule = await create(first, interval_seconds=1)
        await first.client.post(f"/schedules/{schedule['id']}/pause")
        await first.client.post(f"/schedules/{schedule['id']}/resume")
    await anyio.sleep(5)  # down: about five periods pass
    async with running_maghub(settings.model_copy(update={"port": 0})) as second:
        await anyio.sleep(1.5)
        after = await detail(second, schedule["id"])
    missed = [f for f in after["firings"] if f["status"] == "missed"]
    assert len(missed) == 1, after["firings"]
    assert missed[0]["missed_count"] >= 4 and "not run" in missed[0]["message"]
    # After the restart it goes on at its period, without a burst: at most the periods since then.
    assert len(started(after)) <= 3
    assert datetime.fromisoformat(after["next_run_at"]) > datetime.fromisoformat(missed[0]["fired_at"])
