"""Resume after a killed server (SPEC §6 Durability): maghub as a real process is ``SIGKILL``ed while
a node runs; a new process on the same data finds the run interrupted and resumes it without
running the finished node again. The scripted LLM runs in the test process, so it counts the
requests of every node across both maghub processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from graph_samples import agent, answer_with_name, blocks, graph, node_of

from maghub.testing.process import MaghubProcess
from maghub.testing.scripted_llm import Reply, ScriptedLLM
from maghub.testing.sse import iter_events, post_stream


class Servers:
    """maghub processes started one after another on the same data dir and database."""

    def __init__(self, data_dir: Path, database_url: str) -> None:
        self._args = ("--database-url", database_url, "--log-level", "warning")
        self._data_dir = data_dir
        self._started: list[MaghubProcess] = []

    async def start(self) -> tuple[MaghubProcess, httpx2.AsyncClient]:
        process = MaghubProcess(self._data_dir, *self._args)
        self._started.append(process)
        # In a thread: the scripted LLM serves from this event loop, which must keep running.
        await anyio.to_thread.run_sync(process.wait_ready)
        return process, httpx2.AsyncClient(base_url=process.url, timeout=30)

    def stop_all(self) -> None:
        for process in self._started:
            process.stop()


@pytest.fixture
def servers(tmp_path: Path, database_url: str) -> Iterator[Servers]:
    started = Servers(tmp_path / "data", database_url)
    yield started
    started.stop_all()


def requests_per_node(llm: ScriptedLLM) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in llm.requests:
        counts[node_of(request.body)] = counts.get(node_of(request.body), 0) + 1
    return counts


async def start_in_background_until(client: httpx2.AsyncClient, body: dict[str, Any], node: str) -> str:
    """Start a background run, follow its stream until ``node`` starts, then leave; the run goes on."""
    conversation_id = ""
    async with client.stream("POST", "/graphs/execute", json={**body, "background": True}) as response:
        assert response.status_code == 200, await response.aread()
        events: AsyncIterator[dict[str, Any] | str] = iter_events(response)
        async for event in events:
            assert isinstance(event, dict), f"the stream ended before {node} started"
            if event.get("type") == "conversation_created":
                conversation_id = event["conversation_id"]
            if event.get("type") == "node_start" and event.get("node_name") == node:
                break
    assert conversation_id
    return conversation_id


async def wait_for_nodes(client: httpx2.AsyncClient, conversation_id: str, statuses: dict[str, str]) -> None:
    """Until the stored rounds show each node in ``statuses`` with that status."""
    with anyio.fail_after(10):
        while True:
            nodes = (await client.get(f"/graphs/runs/{conversation_id}")).json()["nodes"]
            if all(nodes.get(node, {}).get("status") == status for node, status in statuses.items()):
                return
            await anyio.sleep(0.02)


async def test_a_run_killed_mid_node_resumes_in_a_new_process(servers: Servers, llm: ScriptedLLM) -> None:
    llm.default_reply = answer_with_name
    llm.script(Reply(content="never finished", first_token_delay=60), when=lambda b: node_of(b) == "B", times=1)
    first, client = await servers.start()
    async with client:
        model = {"name": "m", "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
        assert (await client.post("/models", json=model)).status_code == 200
        config = graph("chain", agent("A", ["start"], ["B"]), agent("B", ["A"], ["C"]), agent("C", ["B"], ["end"]))
        assert (await client.post("/graphs", json=config)).status_code == 200

        conversation_id = await start_in_background_until(client, {"graph_name": "chain", "input_text": "go"}, "B")
        await llm.wait_for(lambda requests: any(node_of(r.body) == "B" for r in requests), timeout=10)
        await wait_for_nodes(client, conversation_id, {"A": "completed", "B": "running"})  # as stored

    first.proc.kill()  # SIGKILL: no shutdown code runs, B's round stays "running" in the database
    assert first.proc.wait(10) == -9
    await llm.wait_for(lambda requests: any(node_of(r.body) == "B" and r.disconnected for r in requests))

    _second, client = await servers.start()
    async with client:
        view = (await client.get(f"/graphs/runs/{conversation_id}")).json()
        assert view["status"] == "interrupted"
        assert view["nodes"]["A"]["status"] == "completed"

        resumed = await post_stream(
            client, "/graphs/execute", {"conversation_id": conversation_id, "continue_from_checkpoint": True}
        )

        assert resumed.done and not resumed.errors
        assert blocks(resumed) == ["B", "C"]
        assert resumed.of_type("graph_complete")[0]["final_result"] == "out-C"
        assert requests_per_node(llm) == {"A": 1, "B": 2, "C": 1}  # A ran once, before the kill
        b_input = [r.body["messages"][1]["content"] for r in llm.requests if node_of(r.body) == "B"]
        assert b_input == ["out-A", "out-A"]  # the resumed B reads A's stored output

        view = (await client.get(f"/graphs/runs/{conversation_id}")).json()
        assert view["status"] == "completed" and view["final_result"] == "out-C"
        assert view["nodes"]["B"] == {"status": "completed", "runs": 2, "output": "out-B"}
        detail = (await client.get(f"/chat/conversations/{conversation_id}")).json()
        rounds = [(r["node_name"], r["status"]) for r in detail["rounds"]]
        assert rounds == [
            ("start", "completed"),
            ("A", "completed"),
            ("B", "interrupted"),
            ("B", "completed"),
            ("C", "completed"),
        ]
        interrupted_b = detail["rounds"][2]
        assert [m["role"] for m in interrupted_b["messages"]] == ["system", "user"]  # no answer was stored
        assert detail["final_result"] == "out-C"
