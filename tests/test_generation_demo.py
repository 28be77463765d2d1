"""``maghub serve --demo`` designs graphs (and tools) offline: the demo model answers generation
conversations with a scripted, valid design in two turns."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from maghub.settings import Settings
from maghub.testing.harness import RunningMaghub, running_maghub
from maghub.testing.sse import post_stream

FINISH = "<end>END</end>"


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[RunningMaghub]:
    settings = Settings(data_dir=tmp_path / "data", port=0, demo=True, log_level="warning")
    async with running_maghub(settings) as maghub:
        yield maghub


async def test_the_demo_model_designs_a_graph_that_runs(demo: RunningMaghub) -> None:
    first = await post_stream(demo.client, "/graphs/generate", {"requirement": "Explain tides", "model_name": "demo"})
    conversation_id = first.of_type("conversation_created")[0]["conversation_id"]
    assert "<graph_name>demo_explain_tides_" in first.text and not first.errors

    early = await post_stream(
        demo.client, "/graphs/generate", {"requirement": FINISH, "conversation_id": conversation_id}
    )
    (incomplete,) = [event["incomplete"] for event in early.payloads]
    assert any("writer" in problem["message"] for problem in incomplete["problems"])

    body = {"requirement": "continue", "model_name": "demo", "conversation_id": conversation_id}
    second = await post_stream(demo.client, "/graphs/generate", body)
    assert "<end_template>{writer}</end_template>" in second.text and not second.errors
    done = await post_stream(
        demo.client, "/graphs/generate", {"requirement": FINISH, "conversation_id": conversation_id}
    )
    (completion,) = [event["completion"] for event in done.payloads]
    name = completion["graph_name"]
    assert name.startswith("demo_explain_tides_") and completion["version"] == 1

    run = await post_stream(demo.client, "/graphs/execute", {"graph_name": name, "input_text": "Why two tides a day?"})
    (complete,) = run.of_type("graph_complete")
    assert "offline demo model" in complete["final_result"] and not run.errors
    detail = (await demo.client.get(f"/chat/conversations/{conversation_id}")).json()
    assert detail["title"] == "Explain tides" and detail["type"] == "agent"

    improve = {"requirement": "Say it is about the sea", "model_name": "demo", "graph_name": name}
    improving = await post_stream(demo.client, "/graphs/generate", improve)
    improving_id = improving.of_type("conversation_created")[0]["conversation_id"]
    improved = await post_stream(
        demo.client, "/graphs/generate", {"requirement": FINISH, "conversation_id": improving_id}
    )
    assert improved.payloads[0]["completion"]["version"] == 2
    stored = (await demo.client.get(f"/graphs/{name}")).json()
    assert stored["description"] == "Improved by the demo model: Say it is about the sea"


@pytest.mark.slow
async def test_the_demo_model_writes_a_tool_that_registers_and_answers(demo: RunningMaghub) -> None:
    first = await post_stream(demo.client, "/mcp/generate", {"requirement": "Count words", "model_name": "demo"})
    conversation_id = first.of_type("conversation_created")[0]["conversation_id"]
    body = {"requirement": "continue", "model_name": "demo", "conversation_id": conversation_id}
    second = await post_stream(demo.client, "/mcp/generate", body)
    assert "<readme>" in second.text and not first.errors and not second.errors

    done = await post_stream(demo.client, "/mcp/generate", {"requirement": FINISH, "conversation_id": conversation_id})

    (completion,) = [event["completion"] for event in done.payloads]
    name = completion["tool_name"]
    assert name.startswith("demo_count_words_") and (await demo.client.get("/mcp/ai-tools")).json() == [name]
    params = {"server_name": name, "tool_name": "word_count", "params": {"text": "one two three"}}
    called = (await demo.client.post("/mcp/test-tool", json=params)).json()
    assert called["status"] == "success" and "3" in str(called["result"])
