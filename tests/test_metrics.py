"""Prometheus metrics at /metrics (SPEC §14 Observability): the real app over HTTP, a graph run on the
scripted LLM with a real MCP tool call, the exposition parsed with the client library's own parser."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import pytest
from graph_samples import agent, answer_with_name, graph, node_of
from prometheus_client.parser import text_string_to_metric_families

from maghub.testing.harness import RunningMaghub
from maghub.testing.mcp_servers.harness import MARKER_VARIABLE
from maghub.testing.scripted_llm import Reply, ScriptedLLM
from maghub.testing.sse import post_stream

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(hub: RunningMaghub, **kwargs: object) -> Samples:
    response = await hub.client.get("/metrics", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
async def hub(maghub: RunningMaghub, llm: ScriptedLLM) -> AsyncIterator[RunningMaghub]:
    yield maghub


async def test_a_graph_run_shows_its_nodes_llm_calls_tokens_and_tool_calls(
    marker: str, hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    model = f"m-{uuid.uuid4().hex[:6]}"  # metrics are per process: names of this test's own
    name = f"g{uuid.uuid4().hex[:6]}"
    body = {"name": model, "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
    assert (await hub.client.post("/models", json=body)).status_code == 200
    toolbox = {
        "command": sys.executable,
        "args": ["-m", "maghub.testing.mcp_servers.toolbox"],
        "env": {MARKER_VARIABLE: marker},
    }
    assert (await hub.client.post("/mcp/add", json={"mcpServers": {"toolbox": toolbox}})).status_code == 200
    nodes = (
        agent("A", ["start"], ["B"], model_name=model, mcp_servers=["toolbox"]),
        agent("B", ["A"], ["end"], model_name=model),
    )
    assert (await hub.client.post("/api/graphs", json=graph(name, *nodes))).status_code == 200
    llm.default_reply = answer_with_name
    llm.script(
        Reply(
            tool_calls=[{"name": "echo", "arguments": {"text": "x"}}],
            usage={"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11},
        ),
        when=lambda b: node_of(b) == "A" and b["messages"][-1]["role"] != "tool",
    )
    before = await scrape(hub)

    stream = await post_stream(hub.client, "/api/graphs/execute", {"graph_name": name, "input_text": "go"})
    assert stream.done and stream.of_type("graph_complete")

    after = await scrape(hub)
    assert value(after, "maghub_runs_total", graph=name, status="completed") == 1
    assert value(after, "maghub_run_duration_seconds_count", graph=name) == 1
    for node in ("A", "B"):
        assert value(after, "maghub_node_executions_total", graph=name, node=node, status="completed") == 1
    assert value(after, "maghub_node_duration_seconds_count", graph=name) == 2
    assert value(after, "maghub_llm_calls_total", model=model, status="ok") == 3  # A twice (tool call), B once
    assert value(after, "maghub_llm_tokens_total", model=model, type="input") == 7 + 3 + 3
    assert value(after, "maghub_llm_tokens_total", model=model, type="output") == 4 + 2 + 2
    assert value(after, "maghub_llm_call_duration_seconds_count", model=model) == 3
    tools_before = value(before, "maghub_tool_calls_total", server="toolbox", status="ok")
    assert value(after, "maghub_tool_calls_total", server="toolbox", status="ok") == tools_before + 1
    assert value(after, "maghub_runs_in_flight") == 0 and value(after, "maghub_nodes_waiting") == 0
    assert "opentelemetry.sdk.trace" not in sys.modules  # no OTLP endpoint: traces cost nothing
    assert value(after, "maghub_mcp_connections", state="connected") >= 1
    # Requests are counted by their route template, not their raw path; a MAG route counts as one
    # route whether it was called at the root or under /api (SPEC §1: the same router, mounted twice).
    execute = value(after, "maghub_http_requests_total", method="POST", route="/graphs/execute", status="200")
    assert (
        execute == value(before, "maghub_http_requests_total", method="POST", route="/graphs/execute", status="200") + 1
    )
    run_id = stream.payloads[0]["conversation_id"]
    assert (await hub.client.get(f"/graphs/runs/{run_id}")).status_code == 200
    templated = await scrape(hub)
    assert (
        value(
            templated, "maghub_http_requests_total", method="GET", route="/graphs/runs/{conversation_id}", status="200"
        )
        >= 1
    )
    assert not any(run_id in dict(labels).get("route", "") for _, labels in templated)
    assert (await hub.client.get("/no/such/route")).status_code == 404
    unmatched = await scrape(hub)
    assert value(unmatched, "maghub_http_requests_total", method="GET", route="<unmatched>", status="404") >= 1


async def test_a_failing_llm_call_is_counted_as_an_error(hub: RunningMaghub, llm: ScriptedLLM) -> None:
    model = f"m-{uuid.uuid4().hex[:6]}"
    body = {"name": model, "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
    assert (await hub.client.post("/models", json=body)).status_code == 200
    name = f"g{uuid.uuid4().hex[:6]}"
    assert (
        await hub.client.post("/api/graphs", json=graph(name, agent("A", ["start"], ["end"], model_name=model)))
    ).status_code == 200
    llm.script(Reply(status=400, error_message="bad request"))

    stream = await post_stream(hub.client, "/api/graphs/execute", {"graph_name": name, "input_text": "go"})

    assert stream.done
    samples = await scrape(hub)
    assert value(samples, "maghub_llm_calls_total", model=model, status="error") == 1
    assert value(samples, "maghub_node_executions_total", graph=name, node="A", status="failed") == 1
    assert value(samples, "maghub_runs_total", graph=name, status="failed") == 1


async def test_metrics_need_a_token_in_auth_mode(
    secured: RunningMaghub, sign_in: Callable[[str], Awaitable[dict[str, str]]]
) -> None:
    refused = await secured.client.get("/metrics")
    assert refused.status_code == 401 and "token" in refused.json()["detail"]
    assert await scrape(secured, headers=await sign_in("alice"))


async def test_metrics_public_opens_them_in_auth_mode(secured: RunningMaghub) -> None:
    secured.settings.metrics_public = True
    assert await scrape(secured)


async def test_queue_depth_shows_runs_in_flight_and_nodes_waiting_for_a_slot(
    hub: RunningMaghub, llm: ScriptedLLM
) -> None:
    model = f"m-{uuid.uuid4().hex[:6]}"
    body = {"name": model, "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
    assert (await hub.client.post("/models", json=body)).status_code == 200
    name = f"g{uuid.uuid4().hex[:6]}"
    wide = [agent(f"P{i}", ["start"], ["end"], model_name=model) for i in range(10)]  # 8 run at once
    document = graph(name, *wide, max_parallel_nodes=8)
    assert (await hub.client.post("/api/graphs", json=document)).status_code == 200
    llm.script(Reply(content="slow", first_token_delay=1.5))

    async with anyio.create_task_group() as group:
        group.start_soon(post_stream, hub.client, "/api/graphs/execute", {"graph_name": name, "input_text": "go"})
        await anyio.sleep(0.8)
        during = await scrape(hub)
    after = await scrape(hub)

    assert value(during, "maghub_runs_in_flight") >= 1
    assert value(during, "maghub_nodes_waiting") == 2
    assert value(after, "maghub_runs_in_flight") == 0 and value(after, "maghub_nodes_waiting") == 0
    assert value(after, "maghub_node_executions_total", graph=name, node="P9", status="completed") == 1
