"""The Prometheus metrics maghub exports at ``/metrics``, all named ``maghub_*``.

They live in a registry of their own (not the client library's global one), so that ``/metrics``
shows exactly these and a library that registers metrics of its own changes nothing.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

# Seconds: from a fast HTTP answer or tool call to a long graph run.
_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_SLOW = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

http_requests = Counter(
    "maghub_http_requests",
    "HTTP requests by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
http_request_duration = Histogram(
    "maghub_http_request_duration_seconds",
    "Time to answer an HTTP request (streamed answers: until the stream ends).",
    ["method", "route"],
    buckets=_FAST,
    registry=REGISTRY,
)
runs = Counter(
    "maghub_runs", "Graph run turns that ended, by graph and status.", ["graph", "status"], registry=REGISTRY
)
run_duration = Histogram(
    "maghub_run_duration_seconds", "Duration of graph run turns.", ["graph"], buckets=_SLOW, registry=REGISTRY
)
runs_in_flight = Gauge("maghub_runs_in_flight", "Graph run turns running in this instance now.", registry=REGISTRY)
nodes_waiting = Gauge(
    "maghub_nodes_waiting",
    "Graph nodes ready to run but waiting for a slot (a run runs at most max_parallel_nodes at once).",
    registry=REGISTRY,
)
node_executions = Counter(
    "maghub_node_executions",
    "Node executions that ended, by graph, node and status.",
    ["graph", "node", "status"],
    registry=REGISTRY,
)
node_duration = Histogram(
    "maghub_node_duration_seconds", "Duration of node executions.", ["graph"], buckets=_SLOW, registry=REGISTRY
)
llm_calls = Counter(
    "maghub_llm_calls", "LLM calls by model and status (ok, error, cancelled).", ["model", "status"], registry=REGISTRY
)
llm_tokens = Counter(
    "maghub_llm_tokens",
    "Tokens the providers reported, by model and type (input, output).",
    ["model", "type"],
    registry=REGISTRY,
)
llm_call_duration = Histogram(
    "maghub_llm_call_duration_seconds",
    "Duration of LLM calls (a streamed call: until its last chunk).",
    ["model"],
    buckets=_SLOW,
    registry=REGISTRY,
)
tool_calls = Counter(
    "maghub_tool_calls",
    "MCP tool calls by server and status (ok, error, cancelled).",
    ["server", "status"],
    registry=REGISTRY,
)
tool_call_duration = Histogram(
    "maghub_tool_call_duration_seconds", "Duration of MCP tool calls.", ["server"], buckets=_FAST, registry=REGISTRY
)
mcp_connections = Gauge(
    "maghub_mcp_connections", "Configured MCP servers by connection state.", ["state"], registry=REGISTRY
)
schedule_firings = Counter(
    "maghub_schedule_firings",
    "Schedule periods by outcome: fired (a run started), failed (the run could not start), "
    "missed (passed while no instance was running).",
    ["outcome"],
    registry=REGISTRY,
)


_children: dict[tuple[int, tuple[str, ...]], Any] = {}


def child(metric: Any, *label_values: str) -> Any:
    """``metric.labels(*label_values)``, remembered: the client library's lookup checks and copies its
    arguments on every call, which is most of what a counted event costs."""
    key = (id(metric), label_values)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*label_values)
    return found


def set_mcp_connection_states(counts: dict[str, int], states: list[str]) -> None:
    """Every state gets a value (0 included), so a state that empties does not keep its last count."""
    for state in states:
        mcp_connections.labels(state).set(counts.get(state, 0))


def exposition() -> tuple[bytes, str]:
    """The metrics in the Prometheus text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
