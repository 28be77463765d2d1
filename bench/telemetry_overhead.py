"""What metrics and traces cost per graph node (SPEC §14 Observability), in one run.

1. Unset (no ``OTEL_EXPORTER_OTLP_ENDPOINT``): the metrics are always kept, the trace calls return at
   once. The seams one agent node passes through (node, one LLM call with usage) are timed in this
   process, a million-odd times, and set against the per-node time of a linear graph run on a maghub
   process without traces: ``RATIO telemetry_per_node_unset`` = (per node) / (per node - seams),
   target ≤ 1.02 (under 2 % added per node).
2. Traces on: the same linear graph on two maghub processes, one exporting every span over OTLP/HTTP
   (to a collector in this process that reads and drops them), one without, interleaved:
   ``RATIO telemetry_per_node_traced``, reported without a target (tracing is opt-in).

Per-node time follows graph_fanout.py: run wall / N for a linear graph of N nodes, no LLM latency.

    uv run python bench/telemetry_overhead.py [--nodes 20] [--rounds 20] [--seam-loops 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
from graph_fanout import MODEL_ID, linear_graph, run_graph, script_reply
from harness import Samples, print_ratio, print_table, scripted_llm_process

from maghub.llm.types import Usage
from maghub.observability.seams import llm_call_observed, node_observed
from maghub.testing.process import MaghubProcess

UNSET_TARGET = 1.02


def seam_seconds_per_node(loops: int) -> float:
    """The telemetry an agent node of one LLM call costs with traces off (timed in this process)."""
    usage = Usage(8, 4, 12)

    def one_node() -> None:
        with node_observed("bench", "L01"), llm_call_observed("bench", MODEL_ID) as call:
            call.finished(usage, "stop")

    for _ in range(1000):
        one_node()
    started = time.perf_counter()
    for _ in range(loops):
        one_node()
    return (time.perf_counter() - started) / loops


class _Discard(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def otlp_sink() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discard)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def prepared(process: MaghubProcess, llm_url: str, length: int) -> httpx2.AsyncClient:
    await asyncio.to_thread(process.wait_ready, 120)
    http = httpx2.AsyncClient(base_url=process.url, timeout=120)
    model = {"name": "bench", "base_url": llm_url, "api_key": "sk-bench", "model": MODEL_ID}
    (await http.post("/models", json=model)).raise_for_status()
    (await http.post("/graphs", json=linear_graph("line_long", length))).raise_for_status()
    return http


async def per_node(length: int, rounds: int, seam: float) -> None:
    with scripted_llm_process() as llm_url, otlp_sink() as sink, tempfile.TemporaryDirectory() as tmp:
        plain = MaghubProcess(Path(tmp) / "plain", "--log-level", "warning")
        traced = MaghubProcess(
            Path(tmp) / "traced", "--log-level", "warning", env={"OTEL_EXPORTER_OTLP_ENDPOINT": sink}
        )
        try:
            plain_http = await prepared(plain, llm_url, length)
            traced_http = await prepared(traced, llm_url, length)
            await script_reply(plain_http, llm_url)
            off, on = Samples("traces unset, per node"), Samples("traces exported, per node")
            for i in range(rounds + 3):  # 3 warm-up rounds
                plain_wall = await run_graph(plain_http, "line_long")
                traced_wall = await run_graph(traced_http, "line_long")
                if i >= 3:
                    off.add(plain_wall / length)
                    on.add(traced_wall / length)
                if i % 10 == 9:
                    await plain_http.delete(f"{llm_url.removesuffix('/v1')}/_scripted/requests")
            await plain_http.aclose()
            await traced_http.aclose()
        finally:
            plain.stop()
            traced.stop()
    print_table(f"per node, linear graph of {length}, no LLM latency, SQLite", [off, on])
    print(
        f"telemetry seams per agent node with traces unset: {seam * 1e6:.2f} µs "
        f"({seam / off.median * 100:.3f} % of {off.median * 1e3:.2f} ms per node)"
    )
    print_ratio("telemetry_per_node_unset", off.median, off.median - seam, UNSET_TARGET)
    print(f"RATIO telemetry_per_node_traced traced/unset = {on.median / off.median:.3f} (no target: opt-in)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=20, help="length of the linear graph")
    parser.add_argument("--rounds", type=int, default=20, help="measured runs on each maghub")
    parser.add_argument("--seam-loops", type=int, default=200_000, help="timed passes through the seams")
    args = parser.parse_args()
    seam = seam_seconds_per_node(args.seam_loops)
    asyncio.run(per_node(args.nodes, args.rounds, seam))


if __name__ == "__main__":
    main()
