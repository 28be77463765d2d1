"""OpenTelemetry traces (SPEC §14 Observability): maghub as a real process exporting over OTLP/HTTP
to a tiny collector written here (a real HTTP server decoding the protobuf with opentelemetry-proto),
one trace per run: HTTP request → run → node → LLM call / tool call, with GenAI attributes; the
trace ids in the JSON log lines. Without an endpoint the SDK is never loaded."""

from __future__ import annotations

import gzip
import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2
import pytest
from graph_samples import agent, answer_with_name, graph, node_of
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from maghub.observability import tracing
from maghub.testing.mcp_servers.harness import MARKER_VARIABLE
from maghub.testing.process import MaghubProcess
from maghub.testing.scripted_llm import Reply, ScriptedLLM
from maghub.testing.sse import post_stream

pytestmark = pytest.mark.slow


@dataclass
class ReceivedSpan:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    attributes: dict[str, Any]
    service: str


class OTLPReceiver:
    """POST /v1/traces as an OpenTelemetry collector answers it."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.content_types: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.content_types.add(self.headers["Content-Type"])
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                receiver.add(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                            span.name,
                            {a.key: _value(a.value) for a in span.attributes},
                            str(resource.get("service.name")),
                        )
                    )


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    receiver = OTLPReceiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


async def test_each_run_is_one_trace_with_nodes_llm_and_tool_calls(
    receiver: OTLPReceiver, llm: ScriptedLLM, database_url: str, marker: str, tmp_path: Path
) -> None:
    process = MaghubProcess(
        tmp_path / "data",
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_SERVICE_NAME": "maghub-under-test",
            "MAGHUB_DATABASE_URL": database_url,
            "MAGHUB_LOG_FORMAT": "json",
        },
    )
    try:
        await anyio.to_thread.run_sync(process.wait_ready)
        run_ids = await run_twice(process.url, llm, marker)
    finally:
        output = await anyio.to_thread.run_sync(process.stop)

    assert receiver.content_types == {"application/x-protobuf"}
    spans = receiver.spans
    assert {span.service for span in spans} == {"maghub-under-test"}
    runs = [span for span in spans if span.name == "run traced"]
    assert sorted(span.attributes["maghub.conversation.id"] for span in runs) == sorted(run_ids)
    assert len({span.trace_id for span in runs}) == 2, "each run has a trace of its own"
    for run in runs:
        trace = {span.span_id: span for span in spans if span.trace_id == run.trace_id}
        (http,) = [span for span in trace.values() if span.parent_id == ""]
        assert http.name == "POST /graphs/execute" and run.parent_id == http.span_id
        assert http.attributes["http.route"] == "/graphs/execute"
        nodes = {
            span.attributes["gen_ai.agent.name"]: span
            for span in trace.values()
            if span.name.startswith("invoke_agent")
        }
        assert set(nodes) == {"A", "B"}
        assert all(node.parent_id == run.span_id for node in nodes.values())
        assert all(node.attributes["gen_ai.operation.name"] == "invoke_agent" for node in nodes.values())
        chats = [span for span in trace.values() if span.name == "chat scripted-model"]
        assert len(chats) == 3  # A calls a tool, then answers; B answers
        assert all(chat.attributes["gen_ai.operation.name"] == "chat" for chat in chats)
        assert all(chat.attributes["gen_ai.request.model"] == "scripted-model" for chat in chats)
        assert sorted(chat.attributes["gen_ai.usage.input_tokens"] for chat in chats) == [3, 3, 7]
        assert sorted(chat.attributes["gen_ai.usage.output_tokens"] for chat in chats) == [2, 2, 4]
        assert {trace[chat.parent_id].attributes["gen_ai.agent.name"] for chat in chats} == {"A", "B"}
        (tool,) = [span for span in trace.values() if span.name == "execute_tool echo"]
        assert (
            tool.attributes["gen_ai.tool.name"] == "echo" and tool.attributes["gen_ai.operation.name"] == "execute_tool"
        )
        assert tool.parent_id == nodes["A"].span_id

    # The JSON log line of each run's request carries the run's trace id.
    logged = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    requests = [line for line in logged if line.get("path") == "/graphs/execute"]
    assert {line["trace_id"] for line in requests} == {run.trace_id for run in runs}


async def run_twice(url: str, llm: ScriptedLLM, marker: str) -> list[str]:
    toolbox = {
        "command": sys.executable,
        "args": ["-m", "maghub.testing.mcp_servers.toolbox"],
        "env": {MARKER_VARIABLE: marker},
    }
    llm.default_reply = answer_with_name
    llm.script(
        Reply(
            tool_calls=[{"name": "echo", "arguments": {"text": "x"}}],
            usage={"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11},
        ),
        when=lambda b: node_of(b) == "A" and b["messages"][-1]["role"] != "tool",
        times=2,
    )
    async with httpx2.AsyncClient(base_url=url, timeout=30) as client:
        model = {"name": "m", "base_url": llm.base_url, "api_key": "sk-test-123456", "model": "scripted-model"}
        assert (await client.post("/models", json=model)).status_code == 200
        assert (await client.post("/mcp/add", json={"mcpServers": {"toolbox": toolbox}})).status_code == 200
        nodes = (agent("A", ["start"], ["B"], mcp_servers=["toolbox"]), agent("B", ["A"], ["end"]))
        assert (await client.post("/graphs", json=graph("traced", *nodes))).status_code == 200
        run_ids = []
        for _ in range(2):
            stream = await post_stream(client, "/graphs/execute", {"graph_name": "traced", "input_text": "go"})
            assert stream.of_type("graph_complete"), stream.payloads
            run_ids.append(stream.payloads[0]["conversation_id"])
        return run_ids


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_the_standard_variables_decide_whether_traces_are_exported(environ: dict[str, str], wanted: bool) -> None:
    assert tracing.wanted(environ) is wanted


async def test_a_grpc_protocol_leaves_traces_off_and_says_why(
    receiver: OTLPReceiver, database_url: str, tmp_path: Path
) -> None:
    process = MaghubProcess(
        tmp_path / "data",
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "MAGHUB_DATABASE_URL": database_url,
        },
    )
    try:
        await anyio.to_thread.run_sync(process.wait_ready)
        async with httpx2.AsyncClient(base_url=process.url) as client:
            assert (await client.get("/health")).status_code == 200
    finally:
        output = await anyio.to_thread.run_sync(process.stop)
    assert "OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported" in output
    assert receiver.spans == []
