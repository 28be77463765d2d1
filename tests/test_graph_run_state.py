"""The stored state of graph runs (``maghub.graphs.running.state``): rows written in the shape maghub
has always written, inserted raw, still view and resume; rows of a newer state version are refused,
not misread; a node whose model was deleted fails the run (resumable) instead of crashing it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from graph_samples import agent, answer_with_name, blocks, graph, node_of
from sqlalchemy import insert, select

from maghub.errors import ConflictError
from maghub.graphs.definition.compile import NodeKind
from maghub.graphs.running.state import RUN_STATE_VERSION, NodeEnd, NodeRound, RoundKind, RunState, RunStatus
from maghub.store.tables import ConversationRow, MessageRow, RoundRow, utcnow
from maghub.testing.harness import RunningMaghub
from maghub.testing.scripted_llm import Reply, ScriptedLLM
from maghub.testing.sse import post_stream

CONVERSATION = "chain_written_before_state_versions"

# Exactly what maghub wrote before the run state had a type and a version.
OLD_RUN_DETAILS = {
    "graph_name": "chain",
    "turn": 1,
    "run_status": "running",
    "final_result": None,
    "execution_chain": [],
    "error": None,
}
OLD_START_ROUND = {"node_name": "start", "level": 0, "turn": 1, "kind": "start"}
OLD_NODE_BEGIN = {"level": 1, "run_path": "", "kind": "agent", "turn": 1, "pass": 1, "output_enabled": True}


@pytest.fixture
async def hub(maghub: RunningMaghub, llm: ScriptedLLM) -> AsyncIterator[RunningMaghub]:
    model = {"name": "m", "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
    assert (await maghub.client.post("/models", json=model)).status_code == 200
    llm.default_reply = answer_with_name
    config = graph("chain", agent("A", ["start"], ["B"]), agent("B", ["A"], ["C"]), agent("C", ["B"], ["end"]))
    assert (await maghub.client.post("/graphs", json=config)).status_code == 200
    yield maghub


async def insert_raw(hub: RunningMaghub, details: dict[str, Any], rounds: list[tuple[str, dict, list[dict]]]) -> None:
    """A graph run conversation as plain rows, bypassing maghub's stores."""

    def write(session: Any) -> None:
        now = utcnow()
        session.execute(
            insert(ConversationRow).values(
                id=CONVERSATION,
                user_id="default_user",
                type="graph",
                title="chain: go",
                tags=["Agent graph"],
                status="active",
                round_count=len(rounds),
                prompt_tokens=0,
                completion_tokens=0,
                total_tokens=0,
                details=details,
                created_at=now,
                updated_at=now,
            )
        )
        for number, (status, round_details, messages) in enumerate(rounds, start=1):
            round_id = session.execute(
                insert(RoundRow)
                .values(
                    conversation_id=CONVERSATION,
                    number=number,
                    status=status,
                    details=round_details,
                    prompt_tokens=0,
                    completion_tokens=0,
                    total_tokens=0,
                    created_at=now,
                    updated_at=now,
                )
                .returning(RoundRow.id)
            ).scalar_one()
            for position, message in enumerate(messages):
                session.execute(
                    insert(MessageRow).values(
                        conversation_id=CONVERSATION,
                        round_id=round_id,
                        position=position,
                        role=message["role"],
                        content=message["content"],
                        extra={},
                        created_at=now,
                    )
                )

    await hub.runtime.database.run_write(write)


def node_messages(name: str, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": f"You are {name}."}, {"role": "user", "content": user}]


async def test_a_run_stored_in_the_old_shape_is_viewed_and_resumed(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    a_completed = {
        "node_name": "A",
        **OLD_NODE_BEGIN,
        "mcp_servers": [],
        "output": "stored-A",
        "transfer": None,
        "seq": 1,
        "saved_file": None,
    }
    b_running = {"node_name": "B", **OLD_NODE_BEGIN, "mcp_servers": []}
    await insert_raw(
        hub,
        OLD_RUN_DETAILS,
        [
            ("completed", OLD_START_ROUND, [{"role": "user", "content": "go"}]),
            ("completed", a_completed, [*node_messages("A", "go"), {"role": "assistant", "content": "stored-A"}]),
            ("running", b_running, node_messages("B", "stored-A")),  # its process died
        ],
    )

    view = (await hub.client.get(f"/graphs/runs/{CONVERSATION}")).json()
    assert view["status"] == "interrupted" and view["graph_name"] == "chain" and view["turn"] == 1
    assert view["nodes"] == {
        "A": {"status": "completed", "runs": 1, "output": "stored-A"},
        "B": {"status": "running", "runs": 1},
    }

    resumed = await post_stream(
        hub.client, "/graphs/execute", {"conversation_id": CONVERSATION, "continue_from_checkpoint": True}
    )

    assert resumed.done and not resumed.errors
    assert blocks(resumed) == ["B", "C"]
    assert [node_of(r.body) for r in llm.requests] == ["B", "C"]  # A's stored end was replayed
    assert llm.requests[0].body["messages"][1]["content"] == "stored-A"
    assert resumed.of_type("graph_complete")[0]["final_result"] == "out-C"
    view = (await hub.client.get(f"/graphs/runs/{CONVERSATION}")).json()
    assert view["status"] == "completed" and view["nodes"]["B"] == {"status": "completed", "runs": 2, "output": "out-B"}
    detail = (await hub.client.get(f"/chat/conversations/{CONVERSATION}")).json()
    assert [(r["node_name"], r["status"]) for r in detail["rounds"]] == [
        ("start", "completed"),
        ("A", "completed"),
        ("B", "interrupted"),
        ("B", "completed"),
        ("C", "completed"),
    ]
    assert detail["run_status"] == "completed" and "state_version" not in detail
    cancelled = (await hub.client.post(f"/graphs/runs/{CONVERSATION}/cancel")).json()
    assert cancelled == {
        "status": "success",
        "conversation_id": CONVERSATION,
        "cancelled": False,
        "run_status": "completed",
        "message": "no run of this conversation is in progress",
    }

    def stored_details(session: Any) -> dict[str, Any]:
        return session.scalar(select(ConversationRow.details).where(ConversationRow.id == CONVERSATION))

    assert (await hub.runtime.database.run_read(stored_details))["state_version"] == RUN_STATE_VERSION


async def test_a_new_turn_of_an_old_run_keeps_its_global_outputs(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    memory = graph("memory", agent("A", ["start"], ["end"], global_output=True, context=["A"], user_prompt="{start}"))
    assert (await hub.client.post("/graphs", json=memory)).status_code == 200
    a_completed = {"node_name": "A", **OLD_NODE_BEGIN, "mcp_servers": [], "output": "remembered", "transfer": None}
    details = {**OLD_RUN_DETAILS, "graph_name": "memory", "run_status": "completed", "final_result": "remembered"}
    await insert_raw(
        hub,
        details,
        [
            ("completed", OLD_START_ROUND, [{"role": "user", "content": "one"}]),
            ("completed", a_completed, [*node_messages("A", "one"), {"role": "assistant", "content": "remembered"}]),
        ],
    )

    second = await post_stream(hub.client, "/graphs/execute", {"conversation_id": CONVERSATION, "input_text": "two"})

    assert second.done and not second.errors
    sent = llm.requests[-1].body["messages"][1]["content"]
    assert sent.startswith("two") and "remembered" in sent


async def test_a_run_stored_by_a_newer_maghub_is_refused(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    newer = {**OLD_RUN_DETAILS, "state_version": RUN_STATE_VERSION + 1, "run_status": "failed"}
    await insert_raw(hub, newer, [("completed", OLD_START_ROUND, [{"role": "user", "content": "go"}])])

    viewed = await hub.client.get(f"/graphs/runs/{CONVERSATION}")
    resumed = await hub.client.post(
        "/graphs/execute", json={"conversation_id": CONVERSATION, "continue_from_checkpoint": True}
    )

    for response in (viewed, resumed):
        assert response.status_code == 409, response.text
        assert "newer maghub" in response.json()["detail"]
    assert llm.requests == []


async def test_a_node_whose_model_was_deleted_fails_the_run(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    llm.script(Reply(content="out-A", first_token_delay=0.5), when=lambda body: node_of(body) == "A", times=1)

    async with anyio.create_task_group() as group:
        streams: list[Any] = []

        async def run() -> None:
            streams.append(await post_stream(hub.client, "/graphs/execute", {"graph_name": "chain", "input_text": "x"}))

        group.start_soon(run)
        await llm.wait_for(lambda requests: any(node_of(r.body) == "A" for r in requests), timeout=10)
        assert (await hub.client.delete("/models/m")).status_code == 200

    (stream,) = streams
    assert stream.done
    assert any("Model 'm' does not exist" in error["message"] for error in stream.errors)
    assert [event["run_status"] for event in stream.payloads if "run_status" in event] == ["failed"]
    conversation_id = stream.payloads[0]["conversation_id"]
    view = (await hub.client.get(f"/graphs/runs/{conversation_id}")).json()
    assert view["status"] == "failed" and view["nodes"]["B"]["status"] == "failed"


def test_node_rounds_and_run_states_survive_their_json() -> None:
    ended = NodeRound("S/B", 2, 3, RoundKind.AGENT, "S", 2, False, ("web",), NodeEnd("text", "C", 7, "files/b.md"))
    assert NodeRound.from_json(ended.to_json()) == ended
    assert NodeRound.from_json(NodeRound.start(4).to_json()) == NodeRound.start(4)
    assert NodeRound.start(1).to_json() == OLD_START_ROUND
    state = RunState("g", 2, RunStatus.FAILED, None, [["start", "A"], ["B"]], "node 'B': down")
    assert RunState.from_json("c", state.to_json()) == state
    assert RunState.from_json("c", OLD_RUN_DETAILS) == RunState("chain", 1)
    with pytest.raises(ConflictError, match="newer maghub"):
        RunState.from_json("c", {**state.to_json(), "state_version": RUN_STATE_VERSION + 1})


def test_every_node_kind_has_a_round_kind() -> None:
    assert {RoundKind.of(kind) for kind in NodeKind} == set(RoundKind) - {RoundKind.START}
