"""The conversation routes: listing, detail, status, title, tags, permanent delete and compaction,
with ownership enforced and bad input refused with clear errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from maghub.paths import conversation_files_dir
from maghub.testing.harness import RunningMaghub
from maghub.testing.scripted_llm import Reply, ScriptedLLM
from maghub.testing.sse import post_stream

MODEL = "scripted"


@pytest.fixture
async def hub(maghub: RunningMaghub, llm: ScriptedLLM) -> AsyncIterator[RunningMaghub]:
    model = {"name": MODEL, "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
    assert (await maghub.client.post("/models", json=model)).status_code == 200
    llm.script(Reply(content="<title>A title</title><tags>x</tags>"), last_user_contains="<title>")
    yield maghub


async def say(hub: RunningMaghub, conversation_id: str, prompt: str = "hello", user_id: str = "default_user") -> None:
    body = {"user_prompt": prompt, "model_name": MODEL, "conversation_id": conversation_id, "user_id": user_id}
    stream = await post_stream(hub.client, "/api/chat/completions", body)
    assert stream.done and not stream.errors


async def test_list_is_newest_first_with_both_ids_real_total_and_paging(hub: RunningMaghub) -> None:
    for name in ("c1", "c2", "c3"):
        await say(hub, name)
    await say(hub, "other", user_id="bob")
    await say(hub, "c1", "again")  # c1 becomes the most recently updated

    page = (await hub.client.get("/chat/conversations", params={"limit": 2})).json()
    assert page["total_count"] == 3 and [c["_id"] for c in page["conversations"]] == ["c1", "c3"]
    item = page["conversations"][0]
    assert item["conversation_id"] == "c1" and item["type"] == "chat" and item["status"] == "active"
    assert item["round_count"] == 2 and item["title"] == "A title" and item["tags"] == ["x"]
    assert set(item["total_token_usage"]) == {"total_tokens", "prompt_tokens", "completion_tokens"}
    assert item["created_at"].endswith("Z") and item["updated_at"] >= item["created_at"]
    rest = (await hub.client.get("/api/chat/conversations", params={"limit": 2, "offset": 2})).json()
    assert [c["_id"] for c in rest["conversations"]] == ["c2"] and rest["total_count"] == 3

    await hub.client.put("/chat/conversations/c2/status", json={"status": "favorite"})
    favourites = (await hub.client.get("/chat/conversations", params={"status": "favorite"})).json()
    assert [c["_id"] for c in favourites["conversations"]] == ["c2"] and favourites["total_count"] == 1
    bobs = (await hub.client.get("/chat/conversations", params={"user_id": "bob"})).json()
    assert [c["_id"] for c in bobs["conversations"]] == ["other"]


@pytest.mark.parametrize(
    ("params", "field"), [({"limit": 0}, "limit"), ({"offset": -1}, "offset"), ({"status": "archived"}, "status")]
)
async def test_bad_list_parameters_are_422(hub: RunningMaghub, params: dict[str, Any], field: str) -> None:
    response = await hub.client.get("/chat/conversations", params=params)
    assert response.status_code == 422 and response.json()["detail"][0]["field"].startswith(f"query.{field}")


async def test_status_title_and_tags(hub: RunningMaghub) -> None:
    await say(hub, "conv")
    client = hub.client

    deleted = await client.put("/chat/conversations/conv/status", json={"status": "deleted"})
    assert deleted.status_code == 200
    assert deleted.json() | {"message": None} == {
        "status": "success",
        "message": None,
        "conversation_id": "conv",
        "new_status": "deleted",
    }
    in_trash = await client.put("/chat/conversations/conv/title", json={"title": "New"})
    assert in_trash.status_code == 409 and "Restore" in in_trash.json()["detail"]
    assert (await client.put("/chat/conversations/conv/status", json={"status": "favorite"})).status_code == 200

    renamed = await client.put("/chat/conversations/conv/title", json={"title": "  My chat  "})
    assert renamed.status_code == 200 and renamed.json()["title"] == "My chat"  # favourites can be renamed
    tagged = await client.put("/chat/conversations/conv/tags", json={"tags": [" work ", "urgent", "work"]})
    assert tagged.status_code == 200 and tagged.json()["tags"] == ["work", "urgent"]
    stored = (await client.get("/chat/conversations/conv")).json()
    assert (stored["title"], stored["tags"], stored["status"]) == ("My chat", ["work", "urgent"], "favorite")


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("title", {"title": "   "}, 400),
        ("title", {"title": "x" * 101}, 422),
        ("title", {}, 422),
        ("tags", {"tags": [f"t{i}" for i in range(11)]}, 422),
        ("tags", {"tags": ["x" * 21]}, 422),
        ("tags", {"tags": [" "]}, 422),
        ("tags", {"tags": "work"}, 422),
        ("status", {"status": "archived"}, 422),
    ],
)
async def test_bad_edits_are_refused_and_change_nothing(
    hub: RunningMaghub, path: str, body: dict[str, Any], status: int
) -> None:
    await say(hub, "conv")
    response = await hub.client.put(f"/chat/conversations/conv/{path}", json=body)
    assert response.status_code == status, response.text
    stored = (await hub.client.get("/chat/conversations/conv")).json()
    assert (stored["title"], stored["tags"], stored["status"]) == ("A title", ["x"], "active")


async def test_other_users_conversations_are_invisible_and_untouchable(hub: RunningMaghub) -> None:
    await say(hub, "alices", user_id="alice")
    client = hub.client
    mallory = {"user_id": "mallory"}

    assert (await client.get("/chat/conversations/alices", params=mallory)).status_code == 404
    for path, body in (("status", {"status": "deleted"}), ("title", {"title": "pwned"}), ("tags", {"tags": ["x"]})):
        response = await client.put(f"/chat/conversations/alices/{path}", json={**body, **mallory})
        assert response.status_code == 404, path
    deleting = await client.delete("/chat/conversations/alices/permanent", params=mallory)
    assert deleting.status_code == 404 and "does not exist" in deleting.json()["detail"]
    compacting = await client.post(
        "/chat/conversations/alices/compact", json={"conversation_id": "alices", "model_name": MODEL, **mallory}
    )
    assert compacting.status_code == 404
    stored = (await client.get("/chat/conversations/alices", params={"user_id": "alice"})).json()
    assert stored["title"] == "A title" and stored["status"] == "active" and len(stored["rounds"]) == 1


async def test_permanent_delete_removes_everything(hub: RunningMaghub) -> None:
    await say(hub, "gone")
    files = conversation_files_dir(hub.settings.data_dir, "gone")
    files.mkdir(parents=True)
    (files / "node.md").write_text("saved output")

    response = await hub.client.delete("/chat/conversations/gone/permanent")

    assert response.status_code == 200 and response.json()["conversation_id"] == "gone"
    assert not files.exists()
    assert (await hub.client.get("/chat/conversations/gone")).status_code == 404
    assert (await hub.client.delete("/chat/conversations/gone/permanent")).status_code == 404
    async with hub.runtime.database.read() as session:
        from sqlalchemy import text

        assert (await session.execute(text("SELECT count(*) FROM messages"))).scalar() == 0
        assert (await session.execute(text("SELECT count(*) FROM rounds"))).scalar() == 0


async def test_unknown_ids_are_404(hub: RunningMaghub) -> None:
    client = hub.client
    assert (await client.get("/chat/conversations/nope")).status_code == 404
    assert (await client.put("/chat/conversations/nope/status", json={"status": "active"})).status_code == 404
    compact = await client.post("/chat/conversations/nope/compact", json={"conversation_id": "nope"})
    assert compact.status_code == 404


async def test_brutal_compaction_keeps_question_and_answer_and_reports_nothing_left_to_do(
    hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    await say(hub, "long", "first question")
    await say(hub, "long", "second question")
    body = {"conversation_id": "long", "compact_type": "brutal"}

    first = await hub.client.post("/chat/conversations/long/compact", json=body)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "success" and first.json()["compact_type"] == "brutal"
    statistics = first.json()["statistics"]
    assert {"original_tokens", "compressed_tokens", "reduction_rate", "original_messages"} <= set(statistics)

    again = await hub.client.post("/chat/conversations/long/compact", json=body)
    assert again.status_code == 200 and again.json()["changed"] is False
    assert again.json()["statistics"]["compressed_tokens"] == again.json()["statistics"]["original_tokens"]
    rounds = (await hub.client.get("/chat/conversations/long")).json()["rounds"]
    assert [[m["role"] for m in r["messages"]] for r in rounds] == [["user", "assistant"], ["user", "assistant"]]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"conversation_id": "other"}, 400, "differs"),
        ({"conversation_id": "c", "compact_type": "gentle"}, 422, "compact_type"),
        ({"conversation_id": "c", "compact_threshold": 50}, 422, "compact_threshold"),
        ({"conversation_id": "c", "compact_type": "precise"}, 400, "model_name"),
        ({"conversation_id": "c", "compact_type": "precise", "model_name": "nope"}, 404, "nope"),
    ],
)
async def test_bad_compaction_requests(hub: RunningMaghub, body: dict[str, Any], status: int, words: str) -> None:
    await say(hub, "c")
    response = await hub.client.post("/chat/conversations/c/compact", json=body)
    assert response.status_code == status, response.text
    assert words in str(response.json()["detail"])
