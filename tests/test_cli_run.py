"""``maghub run``: the real command as a separate process, on a data dir (SQLite or PostgreSQL) prepared
through a real maghub, its model the scripted LLM over HTTP."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream
from graph_samples import agent, answer_with_name, graph, node_of, subgraph

from maghub.graphs.running.runs import RunView
from maghub.service.runtime import Runtime
from maghub.settings import Settings
from maghub.testing.harness import running_maghub
from maghub.testing.mcp_servers.harness import (
    MARKER_VARIABLE,
    marked_processes,
    new_marker,
    wait_for_no_marked_processes,
)
from maghub.testing.process import MAGHUB_COMMAND, env_without_maghub_settings
from maghub.testing.scripted_llm import Reply, ScriptedLLM

LINE = graph("line", agent("A", ["start"], ["B"]), agent("B", ["A"], ["end"]))
DIAMOND = graph(
    "diamond",
    agent("A", ["start"], ["B", "C"]),
    agent("B", ["A"], ["D"]),
    agent("C", ["A"], ["D"]),
    agent("D", ["B", "C"], ["end"]),
)


@pytest.fixture
async def prepared(settings: Settings, llm: ScriptedLLM) -> Settings:
    """The data dir and database hold model "m" (the scripted LLM) and the sample graphs."""
    async with running_maghub(settings) as hub:
        model = {"name": "m", "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
        assert (await hub.client.post("/models", json=model)).status_code == 200
        for config in (LINE, DIAMOND, graph("ghostly", {**agent("A", ["start"], ["end"]), "model_name": "ghost"})):
            response = await hub.client.post("/graphs", json=config)
            assert response.status_code == 200, response.text
    llm.default_reply = answer_with_name  # nodes answer "out-<name>" (the llm fixture resets it per test)
    return settings


def command(settings: Settings, *args: str) -> list[str]:
    return [
        *MAGHUB_COMMAND,
        "run",
        *args,
        "--data-dir",
        str(settings.data_dir),
        "--database-url",
        settings.database_url,
    ]


async def maghub_run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    # Run without blocking the event loop: the scripted LLM the command calls is served by this loop.
    result = await anyio.run_process(
        command(settings, *args), check=False, env=env_without_maghub_settings(COLUMNS="200")
    )
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert "Traceback" not in stderr, stderr
    return subprocess.CompletedProcess(result.args, result.returncode, stdout, stderr)


def events_of(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def conversation_of(stderr: str) -> str:
    first = stderr.splitlines()[0]  # "<graph> · new conversation <id>"
    return first.rsplit(" ", 1)[-1]


async def run_view(settings: Settings, conversation_id: str) -> RunView:
    runtime = await Runtime.start(settings)
    try:
        return await runtime.runs.view(conversation_id, "default_user")
    finally:
        await runtime.aclose()


async def test_run_shows_progress_and_prints_the_result(prepared: Settings, llm: ScriptedLLM) -> None:
    result = await maghub_run(prepared, "line", "the topic")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "out-B\n"  # only the result on stdout
    progress = result.stderr.splitlines()
    assert progress[0].startswith("line · new conversation line_")
    assert progress[1:7] == ["▶ A (level 0)", "out-A", "✓ A", "▶ B (level 1)", "out-B", "✓ B"]
    assert progress[7].startswith("result ─")
    conversation_id = conversation_of(result.stderr)
    view = await run_view(prepared, conversation_id)
    assert view.status == "completed" and view.final_result == "out-B"

    again = await maghub_run(prepared, "line", "once more", "--conversation", conversation_id)

    assert again.returncode == 0 and again.stdout == "out-B\n"
    assert again.stderr.splitlines()[0] == f"line · turn 2 {conversation_id}"
    assert [r.body["messages"][1]["content"] for r in llm.requests if node_of(r.body) == "A"] == [
        "the topic",
        "once more",
    ]


async def test_interleaved_output_tags_every_line_with_its_node(prepared: Settings, llm: ScriptedLLM) -> None:
    llm.script(Reply(content="first line\nsecond line"), when=lambda body: node_of(body) == "A")

    result = await maghub_run(prepared, "line", "go", "--interleaved")

    assert result.returncode == 0
    assert result.stderr.splitlines()[1:6] == [
        "▶ A (level 0)",
        "A │ first line",
        "A │ second line",
        "✓ A",
        "▶ B (level 1)",
    ]


async def test_tool_calls_show_their_results_briefly(prepared: Settings, llm: ScriptedLLM, marker: str) -> None:
    toolbox = {
        "command": sys.executable,
        "args": ["-m", "maghub.testing.mcp_servers.toolbox"],
        "env": {MARKER_VARIABLE: marker},
    }
    prepared.port = 0
    async with running_maghub(prepared) as hub:
        added = await hub.client.post("/mcp/add", json={"mcpServers": {"toolbox": toolbox}})
        assert added.json()["servers"]["toolbox"]["connected"] is True, added.text
        tools = graph("tools", agent("T", ["start"], ["end"], mcp_servers=["toolbox"]))
        assert (await hub.client.post("/graphs", json=tools)).status_code == 200
    long_text = "ping " * 100
    call = {"id": "call_1", "name": "echo", "arguments": {"text": long_text}}
    llm.script(Reply(tool_calls=[call]), when=lambda body: node_of(body) == "T", last_is_tool_result=False)
    llm.script(Reply(content="The tool answered."), when=lambda body: node_of(body) == "T", last_is_tool_result=True)

    result = await maghub_run(prepared, "tools", "go")

    assert result.returncode == 0 and result.stdout == "The tool answered.\n"
    progress = result.stderr.splitlines()
    assert progress[1:5] == ["▶ T (level 0)", f"  ↳ echo: {long_text.strip()[:159]}…", "The tool answered.", "✓ T"]


async def test_run_connects_only_the_servers_its_graph_uses_and_shows_tool_progress(
    prepared: Settings, llm: ScriptedLLM, marker: str
) -> None:
    unused = new_marker()
    servers = {
        "used": {
            "command": sys.executable,
            "args": ["-m", "maghub.testing.mcp_servers.toolbox"],
            "env": {MARKER_VARIABLE: marker},
        },
        "unused": {
            "command": sys.executable,
            "args": ["-m", "maghub.testing.mcp_servers.toolbox"],
            "env": {MARKER_VARIABLE: unused},
        },
        "broken": {"command": "/nonexistent/maghub-test-missing-server"},
    }
    prepared.port = 0
    async with running_maghub(prepared) as hub:
        assert (await hub.client.post("/mcp/add", json={"mcpServers": servers})).status_code == 200
        # The used server sits in a subgraph: its servers count too.
        inner = graph("inner", agent("T", ["start"], ["end"], mcp_servers=["used"]))
        outer = graph("outer", subgraph("sub", "inner", ["start"], ["end"]))
        for config in (inner, outer):
            assert (await hub.client.post("/graphs", json=config)).status_code == 200, config
    assert not await wait_for_no_marked_processes(unused)
    call = {"id": "call_1", "name": "count_steps", "arguments": {"steps": 2, "seconds_per_step": 1.0}}
    llm.script(Reply(tool_calls=[call]), when=lambda body: node_of(body) == "T", last_is_tool_result=False)
    llm.script(Reply(content="Counted."), when=lambda body: node_of(body) == "T", last_is_tool_result=True)

    seen_used: set[int] = set()
    seen_unused: set[int] = set()
    async with anyio.create_task_group() as group:
        running = anyio.Event()

        async def watch() -> None:
            while not running.is_set():
                seen_used.update(marked_processes(marker))
                seen_unused.update(marked_processes(unused))
                await anyio.sleep(0.1)

        group.start_soon(watch)
        result = await maghub_run(prepared, "outer", "go")
        running.set()

    assert result.returncode == 0 and result.stdout == "Counted.\n", result.stderr
    assert len(seen_used) == 1 and not seen_unused  # the graph's server started, and only it
    assert "  ⋯ count_steps (used): 1/2 step 1 of 2" in result.stderr.splitlines()
    assert "  ⋯ count_steps (used): 2/2 step 2 of 2" in result.stderr.splitlines()
    assert "broken" not in result.stderr and "unused" not in result.stderr


async def test_json_lines_in_blocks_or_as_they_happen(prepared: Settings, llm: ScriptedLLM) -> None:
    # B is slow to start, so C finishes while B still runs.
    llm.script(lambda body: Reply(content="out-B", first_token_delay=0.5), when=lambda body: node_of(body) == "B")

    blocks = events_of((await maghub_run(prepared, "diamond", "go", "--json")).stdout)
    interleaved = events_of((await maghub_run(prepared, "diamond", "go", "--json", "--interleaved")).stdout)

    assert blocks[0]["event"] == "run_started" and blocks[0]["graph_name"] == "diamond"
    assert blocks[-1] == {
        "event": "run_finished",
        "status": "completed",
        "final_result": "out-D",
        "execution_chain": blocks[-1]["execution_chain"],
        "error": None,
    }
    chunks = [e for e in blocks if e["event"] == "node_chunk"]
    assert chunks and all(set(e) == {"event", "execution", "node", "run_path", "chunk", "content"} for e in chunks)

    def ends(events: list[dict[str, Any]]) -> list[str]:
        return [e["node"] for e in events if e["event"] == "node_finished"]

    def node_sequence(events: list[dict[str, Any]]) -> list[str]:
        return [e["node"] for e in events if "node" in e]

    assert ends(blocks)[1:3] == ["B", "C"]  # blocks in start order: B's before C's
    sequence = node_sequence(blocks)
    assert sequence.index("C") > max(i for i, node in enumerate(sequence) if node == "B")
    assert ends(interleaved)[1:3] == ["C", "B"]  # as it happened


async def test_a_failed_run_exits_1_and_resumes(prepared: Settings, llm: ScriptedLLM) -> None:
    llm.script(Reply(status=400, error_message="the prompt is too long"), when=lambda body: node_of(body) == "B")

    failed = await maghub_run(prepared, "line", "work")

    assert failed.returncode == 1 and failed.stdout == ""
    assert "✗ B: " in failed.stderr and "the prompt is too long" in failed.stderr
    conversation_id = conversation_of(failed.stderr)
    assert f"Resume it with: maghub run line --conversation {conversation_id} --resume" in failed.stderr
    assert (await run_view(prepared, conversation_id)).status == "failed"

    llm.clear_rules()
    resumed = await maghub_run(prepared, "line", "--conversation", conversation_id, "--resume")

    assert resumed.returncode == 0 and resumed.stdout == "out-B\n"
    assert "▶ A" not in resumed.stderr and "▶ B (level 1)" in resumed.stderr
    assert len([r for r in llm.requests if node_of(r.body) == "A"]) == 1  # A finished before: not run again


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "hi"], "Graph 'nope' does not exist"),
        (["ghostly", "hi"], "Graph 'ghostly' is invalid (1 problem)"),
        (["line", "--conversation", "missing", "--resume"], "There is no graph run 'missing' to resume"),
        (["line", "hi", "--conversation", "not an id!"], "cannot name a new one"),
    ],
)
async def test_runs_that_cannot_start_exit_2(prepared: Settings, args: list[str], message: str) -> None:
    result = await maghub_run(prepared, *args)

    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["line"], "INPUT is missing"),
        (["line", "  "], "INPUT is empty"),
        (["line", "--resume"], "--resume needs --conversation ID"),
        (["line", "hi", "--conversation", "c", "--resume"], "leave out INPUT"),
    ],
)
async def test_bad_arguments_exit_2_before_anything_runs(tmp_path: Path, args: list[str], message: str) -> None:
    data_dir = tmp_path / "data"
    result = await anyio.run_process(
        [*MAGHUB_COMMAND, "run", *args, "--data-dir", str(data_dir)], check=False, env=env_without_maghub_settings()
    )

    assert result.returncode == 2
    assert result.stderr.decode().startswith("Error: ") and message in result.stderr.decode()
    assert not data_dir.exists()  # checked before maghub opened anything


async def lines(process: Process) -> AsyncIterator[str]:
    assert process.stdout is not None
    buffered = ""
    async for text in TextReceiveStream(process.stdout):
        buffered += text
        *complete, buffered = buffered.split("\n")
        for line in complete:
            yield line


async def test_ctrl_c_cancels_the_run_cleanly(prepared: Settings, llm: ScriptedLLM) -> None:
    llm.script(Reply(content="too late", first_token_delay=30), when=lambda body: node_of(body) == "B")
    env = env_without_maghub_settings(COLUMNS="200")
    events: list[dict[str, Any]] = []

    async with await anyio.open_process(command(prepared, "line", "x", "--json"), env=env) as process:
        with anyio.fail_after(30):
            async for line in lines(process):
                events.append(json.loads(line))
                if events[-1]["event"] == "node_started" and events[-1]["node"] == "B":
                    await llm.wait_for(lambda requests: any(node_of(r.body) == "B" for r in requests), timeout=10)
                    process.send_signal(signal.SIGINT)
        with anyio.fail_after(10):
            returncode = await process.wait()

    assert returncode == 1
    assert events[-1]["event"] == "run_finished" and events[-1]["status"] == "cancelled"
    assert events[-1]["error"] == "cancelled with Ctrl-C"
    await llm.wait_for(lambda requests: any(r.disconnected for r in requests if node_of(r.body) == "B"), timeout=5)
    view = await run_view(prepared, events[0]["conversation_id"])
    assert view.status == "cancelled" and view.nodes["B"].status == "interrupted"

    llm.clear_rules()
    resumed = await maghub_run(prepared, "line", "--conversation", events[0]["conversation_id"], "--resume")
    assert resumed.returncode == 0 and resumed.stdout == "out-B\n"
