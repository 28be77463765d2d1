"""Graph run benchmarks (SPEC §10), maghub against the same LLM work done without it, in one run.

1. Fan-out: K nodes (default 8) ready at the same moment, every LLM call taking 300 ms before its
   first token. Wall time of a run of a graph of K nodes that all read ``start`` against a run of a
   graph of one such node, both on one maghub, interleaved, several repetitions; the median ratio
   is the fan-out's cost over one node. Target: ≤ 1.1 (the original runs ready nodes one after
   another: K × the latency).
2. Orchestration per node, SQLite persistence on: a linear graph of N nodes (default 20), no LLM
   latency, against the very requests maghub sent for those nodes (read back from the scripted
   LLM's log) made straight to the LLM, one after another, as HTTP streams. Per-node time = run
   wall / N against call wall / N (which charges the run's start and end to the nodes too).
   Target: ≤ 3 ms added at p50. A one-node graph gives the run's fixed cost for reference.

    uv run python bench/graph_fanout.py [--fanout 8] [--latency 0.3] [--reps 9] [--nodes 20] [--rounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
from harness import (
    STARTUP_TIMEOUT,
    Samples,
    add_database_option,
    database_label,
    maghub_args,
    print_added,
    print_ratio,
    print_table,
    scripted_llm_process,
)

from maghub.testing.process import MaghubProcess

MODEL_ID = "scripted-model"
FANOUT_TARGET = 1.1
PER_NODE_TARGET_MS = 0.6
CPU_PER_NODE_TARGET_MS = 1.5
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Every node answers the same few words, so each node streams alike and outputs do not grow along a chain.
NODE_REPLY = {
    "content": "a short node answer",
    "usage": {"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": 12},
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def agent(name: str, inputs: list[str], outputs: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "model_name": "bench",
        "system_prompt": f"You are {name}.",
        "input_nodes": inputs,
        "output_nodes": outputs,
    }


def parallel_graph(name: str, width: int) -> dict[str, Any]:
    """``width`` nodes that all read ``start`` and write ``end``: all ready together."""
    return {"name": name, "nodes": [agent(f"P{i + 1}", ["start"], ["end"]) for i in range(width)]}


def linear_graph(name: str, length: int) -> dict[str, Any]:
    """start → L01 → L02 → … → end."""
    names = [f"L{i + 1:02d}" for i in range(length)]
    nodes = [
        agent(node, [names[i - 1] if i else "start"], [names[i + 1] if i + 1 < length else "end"])
        for i, node in enumerate(names)
    ]
    return {"name": name, "nodes": nodes}


async def run_graph(http: httpx2.AsyncClient, graph_name: str) -> float:
    """Seconds from ``POST /graphs/execute`` to the stream's ``[DONE]``; the run must complete."""
    started = time.perf_counter()
    completed = False
    body = {"graph_name": graph_name, "input_text": "Work on the benchmark topic."}
    async with http.stream("POST", "/graphs/execute", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line == "data: [DONE]":
                break
            if line.startswith("data: ") and '"graph_complete"' in line:
                completed = json.loads(line[6:])["type"] == "graph_complete"
    elapsed = time.perf_counter() - started
    if not completed:
        raise RuntimeError(f"the run of graph '{graph_name}' did not complete")
    return elapsed


async def stream_straight(http: httpx2.AsyncClient, url: str, body: dict[str, Any]) -> None:
    """One streamed completion straight from the LLM, each chunk parsed as a client would."""
    async with http.stream("POST", url, json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line == "data: [DONE]":
                return
            if line.startswith("data: "):
                json.loads(line[6:])
    raise RuntimeError("the LLM stream ended without [DONE]")


async def with_maghub(
    llm_url: str,
    graphs: list[dict[str, Any]],
    run: Callable[..., Awaitable[None]],
    *,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
    limits: httpx2.Limits | None = None,
) -> None:
    """A maghub process (SQLite in a fresh data dir, or ``database_url``) with model ``bench`` on
    ``llm_url`` and ``graphs`` saved (replacing any of the same name)."""
    with tempfile.TemporaryDirectory() as tmp:
        maghub = MaghubProcess(Path(tmp) / "data", *maghub_args(database_url), env=env)
        try:
            await asyncio.to_thread(maghub.wait_ready, STARTUP_TIMEOUT)
            limits = limits or httpx2.Limits(max_connections=100, max_keepalive_connections=20)
            async with httpx2.AsyncClient(base_url=maghub.url, timeout=120, limits=limits) as http:
                model = {"name": "bench", "base_url": llm_url, "api_key": "sk-bench", "model": MODEL_ID}
                (await http.post("/models", json=model)).raise_for_status()
                for config in graphs:
                    saved = await http.post("/graphs", json=config)
                    if saved.status_code != 200:
                        raise RuntimeError(f"saving graph '{config['name']}' failed: {saved.text}")
                await run(http, maghub)
        finally:
            maghub.stop()


async def script_reply(http: httpx2.AsyncClient, llm_url: str) -> None:
    origin = llm_url.removesuffix("/v1")
    (await http.post(f"{origin}/_scripted/rules", json=NODE_REPLY)).raise_for_status()


async def fanout(
    width: int, latency: float, reps: int, *, target: float = FANOUT_TARGET, database_url: str | None = None
) -> None:
    with scripted_llm_process("--latency", str(latency)) as llm_url:

        async def run(http: httpx2.AsyncClient, maghub: MaghubProcess) -> None:
            await script_reply(http, llm_url)
            single, parallel = Samples("1 node"), Samples(f"{width} nodes ready together")
            parallel_cpu = 0.0
            for i in range(reps + 2):  # the first 2 repetitions warm up both graphs
                one = await run_graph(http, "fan_single")
                cpu_before = cpu_seconds(maghub.proc.pid)
                many = await run_graph(http, "fan_parallel")
                if i >= 2:
                    parallel_cpu += cpu_seconds(maghub.proc.pid) - cpu_before
                    single.add(one)
                    parallel.add(many)
            print_table(f"graph run wall time, LLM latency {latency * 1e3:.0f} ms", [parallel, single])
            print(
                f"fan-out of {width}: {parallel.median * 1e3:.0f} ms against {single.median * 1e3:.0f} ms for one "
                f"node; one after another (the original) would take about {width * latency * 1e3:.0f} ms of LLM time"
            )
            print(
                f"maghub CPU per {width}-node run: {parallel_cpu / reps * 1e3:.1f} ms "
                f"({parallel_cpu / reps / width * 1e3:.2f} ms per node; wall times depend on the machine's load)"
            )
            print_ratio(f"graph_fanout_{width}", parallel.median, single.median, target)

        graphs = [parallel_graph("fan_single", 1), parallel_graph("fan_parallel", width)]
        # The server's limit (default 64) must not be what is measured for K above it.
        env = {"MAGHUB_MAX_PARALLEL_NODES": str(max(width, 64))}
        await with_maghub(llm_url, graphs, run, database_url=database_url, env=env)


async def recorded_bodies(http: httpx2.AsyncClient, llm_url: str, count: int) -> list[dict[str, Any]]:
    """The last ``count`` request bodies the LLM received (in order), and clear its log."""
    origin = llm_url.removesuffix("/v1")
    requests = (await http.get(f"{origin}/_scripted/requests")).json()["requests"]
    await http.delete(f"{origin}/_scripted/requests")
    bodies = [r["body"] for r in sorted(requests, key=lambda r: r["id"])[-count:]]
    if len(bodies) != count:
        raise RuntimeError(f"expected {count} LLM requests of the graph run, the LLM saw {len(bodies)}")
    return bodies


async def per_node_overhead(length: int, rounds: int, *, database_url: str | None = None) -> None:
    with scripted_llm_process() as llm_url:

        async def run(http: httpx2.AsyncClient, maghub: MaghubProcess) -> None:
            await script_reply(http, llm_url)
            url = f"{llm_url}/chat/completions"
            for _ in range(3):  # warm up
                await run_graph(http, "line_single")
                await run_graph(http, "line_long")
            line_bodies = await recorded_bodies(http, llm_url, length)
            await run_graph(http, "line_single")
            (single_body,) = await recorded_bodies(http, llm_url, 1)
            graph_node, direct_call = Samples(f"{length}-node graph, per node"), Samples("LLM straight, per call")
            run_fixed = Samples("1-node graph minus 1 call (run start + end)")
            server_cpu = 0.0
            for i in range(rounds):
                cpu_before = cpu_seconds(maghub.proc.pid)
                graph_wall = await run_graph(http, "line_long")
                server_cpu += cpu_seconds(maghub.proc.pid) - cpu_before
                started = time.perf_counter()
                for body in line_bodies:
                    await stream_straight(http, url, body)
                direct_wall = time.perf_counter() - started
                one_node = await run_graph(http, "line_single")
                started = time.perf_counter()
                await stream_straight(http, url, single_body)
                one_call = time.perf_counter() - started
                graph_node.add(graph_wall / length)
                direct_call.add(direct_wall / length)
                run_fixed.add(one_node - one_call)
                if i % 10 == 9:
                    await http.delete(f"{llm_url.removesuffix('/v1')}/_scripted/requests")  # keep its log short
            print_table(
                f"orchestration per node, linear graph of {length}, no LLM latency, {database_label(database_url)}",
                [
                    graph_node,
                    direct_call,
                    run_fixed,
                ],
            )
            marginal = (length * (graph_node.median - direct_call.median) - run_fixed.median) / (length - 1)
            print(f"per node without the run's own start and end: {marginal * 1e3:.3f} ms added")
            print_added("graph_per_node", graph_node.median, direct_call.median, target_ms=PER_NODE_TARGET_MS)
            cpu_ms = server_cpu / (rounds * length) * 1e3
            ok = cpu_ms <= CPU_PER_NODE_TARGET_MS
            print(
                f"CPU graph_server_per_node = {cpu_ms:.3f} ms (target <= {CPU_PER_NODE_TARGET_MS:g} ms) "
                f"{'PASS' if ok else 'MISS'}  (maghub process CPU during the {length}-node runs, per node)"
            )

        graphs = [linear_graph("line_long", length), linear_graph("line_single", 1)]
        await with_maghub(llm_url, graphs, run, database_url=database_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fanout", type=int, default=8, help="nodes ready together")
    parser.add_argument("--latency", type=float, default=0.3, help="LLM seconds to first token in the fan-out test")
    parser.add_argument("--reps", type=int, default=9, help="measured repetitions of the fan-out test")
    parser.add_argument("--nodes", type=int, default=20, help="length of the linear graph (at least 2)")
    parser.add_argument("--rounds", type=int, default=30, help="measured runs of the linear graph")
    parser.add_argument("--only", action="append", choices=["fanout", "per_node"], help="run just this part")
    add_database_option(parser)
    args = parser.parse_args()
    only = set(args.only or ["fanout", "per_node"])
    if "fanout" in only:
        asyncio.run(fanout(args.fanout, args.latency, args.reps, database_url=args.database_url))
    if "per_node" in only:
        asyncio.run(per_node_overhead(args.nodes, args.rounds, database_url=args.database_url))


if __name__ == "__main__":
    main()
