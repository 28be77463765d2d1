"""The seed's curl examples for models and graphs (``mag-api-reference.zh.md``), sent as written: the
same method, path, ``Content-Type`` and body text, copied verbatim. A client written from the seed
alone must work. Where an example needs a real endpoint (a model to run), the scripted LLM stands in,
and only that URL differs from the seed; the one example SPEC refuses on purpose is checked to be
refused with a message saying what to add."""

from __future__ import annotations

import json
from typing import Any

import pytest

from maghub.testing.harness import RunningMaghub
from maghub.testing.scripted_llm import ScriptedLLM
from maghub.testing.sse import read_stream

JSON = {"Content-Type": "application/json"}

# curl -X POST http://localhost:8000/models -H "Content-Type: application/json" -d '...'
ADD_MODEL = """{
    "name": "claude-3",
    "base_url": "https://api.anthropic.com",
    "api_key": "sk-..."
  }"""

# curl -X PUT http://localhost:8000/models/gpt-4 -H "Content-Type: application/json" -d '...'
UPDATE_MODEL = """{
    "name": "gpt-4-updated",
    "base_url": "https://api.openai.com/v2",
    "api_key": "sk-..."
  }"""

# curl -X POST http://localhost:8000/graphs -H "Content-Type: application/json" -d '...'
SAVE_GRAPH = """{
    "name": "my_graph",
    "nodes": [
      {
        "name": "node1",
        "model_name": "gpt-4"
      }
    ]
  }"""

# curl -X POST http://localhost:8000/graphs/execute -H "Content-Type: application/json" -d '...'
EXECUTE = """{
    "graph_name": "my_graph",
    "input_text": "测试输入"
  }"""

# The request body the seed documents for /graphs/execute (its schema block, with its conversation id).
EXECUTE_SCHEMA = """{
  "graph_name": "my_graph",
  "input_text": "输入内容",
  "conversation_id": "conv_123"
}"""


async def send(maghub: RunningMaghub, method: str, path: str, body: str | None = None) -> Any:
    response = await maghub.client.request(
        method, path, content=body.encode() if body else None, headers=JSON if body else None
    )
    assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


async def gpt_4_at(maghub: RunningMaghub, llm: ScriptedLLM) -> None:
    """The seed's gpt-4, in the shape its GET /models shows, pointed at the scripted LLM."""
    body = json.dumps({"name": "gpt-4", "base_url": llm.base_url, "api_key": "sk-..."})
    await send(maghub, "POST", "/models", body)


async def test_the_model_examples(maghub: RunningMaghub, llm: ScriptedLLM) -> None:
    added = await send(maghub, "POST", "/models", ADD_MODEL)
    assert added == {"status": "success", "message": "模型 'claude-3' 添加成功"}
    listed = await send(maghub, "GET", "/models")
    assert [(m["name"], m["base_url"], m["model"]) for m in listed] == [
        ("claude-3", "https://api.anthropic.com", "claude-3")
    ]
    assert (await maghub.runtime.models.get_config("claude-3")).api_key == "sk-..."  # stored as sent

    await gpt_4_at(maghub, llm)
    shown = await send(maghub, "GET", "/models/gpt-4")
    assert shown["status"] == "success" and shown["data"]["name"] == "gpt-4"
    updated = await send(maghub, "PUT", "/models/gpt-4", UPDATE_MODEL)
    assert updated == {"status": "success", "message": "模型 'gpt-4' 更新成功"}
    renamed = await send(maghub, "GET", "/models/gpt-4-updated")
    assert renamed["data"]["base_url"] == "https://api.openai.com/v2" and renamed["data"]["model"] == "gpt-4"

    await gpt_4_at(maghub, llm)
    deleted = await send(maghub, "DELETE", "/models/gpt-4")
    assert deleted == {"status": "success", "message": "模型 'gpt-4' 删除成功"}
    assert sorted(m["name"] for m in await send(maghub, "GET", "/models")) == ["claude-3", "gpt-4-updated"]


@pytest.mark.parametrize("execute", [EXECUTE, EXECUTE_SCHEMA], ids=["curl example", "documented body"])
async def test_the_graph_examples_save_and_run(maghub: RunningMaghub, llm: ScriptedLLM, execute: str) -> None:
    await gpt_4_at(maghub, llm)
    # A deliberate difference (README, "Where maghub differs from the seed"): SPEC §5 wants a node that
    # reads 'start' and one that writes 'end', which the seed's one-node example leaves out.
    refused = await maghub.client.post("/graphs", content=SAVE_GRAPH.encode(), headers=JSON)
    assert refused.status_code == 400
    assert [p["field"] for p in refused.json()["problems"]] == ["input_nodes", "output_nodes"]
    assert await send(maghub, "GET", "/graphs") == []
    connected = json.loads(SAVE_GRAPH)
    connected["nodes"][0] |= {"input_nodes": ["start"], "output_nodes": ["end"]}
    saved = await send(maghub, "POST", "/graphs", json.dumps(connected))
    assert saved["status"] == "success" and "my_graph" in saved["message"]
    assert await send(maghub, "GET", "/graphs") == ["my_graph"]
    assert (await send(maghub, "GET", "/graphs/my_graph"))["nodes"] == connected["nodes"]

    async with maghub.client.stream("POST", "/graphs/execute", content=execute.encode(), headers=JSON) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        stream = await read_stream(response)
    assert stream.done and not stream.errors, stream.events
    created = stream.payloads[0]
    assert created["type"] == "conversation_created"
    sent_id = json.loads(execute).get("conversation_id")
    assert created["conversation_id"] == sent_id if sent_id else created["conversation_id"].startswith("my_graph_")
    input_text = json.loads(execute)["input_text"]
    assert any(f"Echo: {input_text}" in json.dumps(p, ensure_ascii=False) for p in stream.payloads)

    run = await send(maghub, "GET", f"/graphs/runs/{created['conversation_id']}")
    assert run["status"] == "completed" and run["graph_name"] == "my_graph"
