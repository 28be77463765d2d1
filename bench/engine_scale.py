"""The engine at scale (SPEC §10), each scenario printing its ratio against its target.

1. ``fanout``: K = 32 and K = 100 nodes ready together at LLM latency L (300 ms) against one node
   (``graph_fanout.fanout``). Targets: wall ≤ 1.05 × L for K ≤ 32, ≤ 1.1 × L for K = 100.
2. ``chain``: a 100-node linear graph at no latency against the same requests made straight to the
   LLM one after another (``graph_fanout.per_node_overhead``): orchestration added per node (target
   ≤ 0.6 ms p50) and server CPU per node (target ≤ 1.5 ms).
3. ``runs``: 50 concurrent runs of a 5-node linear graph at 100 ms LLM latency against 50
   concurrent clients making the same 5 calls one after another straight to the LLM. Target: direct
   wall / maghub wall ≥ 0.9 (printed as maghub/direct ≤ 1.111).
4. ``soak``: memory of the maghub process after 200 and after 2,000 runs of a 1-node graph (10 at a
   time, no latency). Target: ≤ +20 MB.
5. ``first_run``: a two-wave graph (two nodes, then one reading both; 300 ms latency) run after a
   fresh start (``--settle`` seconds after saving it, default 1) against the same graph's later
   runs, over several starts; wall and maghub CPU. Target: the first run within 1.1 × a later one
   (it used to pay ~250 ms for loading the LLM stack, now loaded in the background after startup).

1,000 concurrent streaming chats: ``bench/chat_stream.py --only concurrency --concurrency 1000``.

    uv run python bench/engine_scale.py [--only fanout|chain|runs|soak|first_run] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
from graph_fanout import (
    agent,
    cpu_seconds,
    fanout,
    linear_graph,
    parallel_graph,
    per_node_overhead,
    recorded_bodies,
    run_graph,
    script_reply,
    stream_straight,
    with_maghub,
)
from harness import (
    STARTUP_TIMEOUT,
    Samples,
    add_database_option,
    maghub_args,
    print_ratio,
    print_table,
    rss_mib,
    scripted_llm_process,
)

from maghub.testing.process import MaghubProcess

FANOUT_TARGETS = {32: 1.05, 100: 1.1}
CONCURRENT_RUNS_TARGET = 1 / 0.9
SOAK_TARGET_MB = 20.0
FIRST_RUN_TARGET = 1.1


async def fanouts(latency: float, reps: int, database_url: str | None) -> None:
    for width, target in FANOUT_TARGETS.items():
        await fanout(width, latency, reps, target=target, database_url=database_url)


async def concurrent_runs(count: int, length: int, latency: float, database_url: str | None) -> None:
    with scripted_llm_process("--latency", str(latency)) as llm_url:

        async def run(http: httpx2.AsyncClient, _maghub: MaghubProcess) -> None:
            await script_reply(http, llm_url)
            await run_graph(http, "runs_line")  # warm up, and the requests to replay straight
            bodies = await recorded_bodies(http, llm_url, length)
            url = f"{llm_url}/chat/completions"

            async def straight() -> None:
                for body in bodies:
                    await stream_straight(http, url, body)

            maghub_walls, direct_walls = Samples(f"{count} runs via maghub"), Samples(f"{count} clients straight")
            for _ in range(3):
                started = time.perf_counter()
                await asyncio.gather(*(run_graph(http, "runs_line") for _ in range(count)))
                maghub_walls.add(time.perf_counter() - started)
                started = time.perf_counter()
                await asyncio.gather(*(straight() for _ in range(count)))
                direct_walls.add(time.perf_counter() - started)
                await http.delete(f"{llm_url.removesuffix('/v1')}/_scripted/requests")
            print_table(
                f"{count} concurrent {length}-node runs, LLM latency {latency * 1e3:.0f} ms",
                [maghub_walls, direct_walls],
            )
            print(f"direct wall / maghub wall = {direct_walls.median / maghub_walls.median:.3f} (target >= 0.9)")
            print_ratio(
                f"graph_{count}_concurrent_runs", maghub_walls.median, direct_walls.median, CONCURRENT_RUNS_TARGET
            )

        limits = httpx2.Limits(max_connections=count * 2, max_keepalive_connections=count * 2)
        await with_maghub(llm_url, [linear_graph("runs_line", length)], run, database_url=database_url, limits=limits)


async def soak(total: int, checkpoint: int, parallel: int, database_url: str | None) -> None:
    with scripted_llm_process() as llm_url:

        async def run(http: httpx2.AsyncClient, maghub: MaghubProcess) -> None:
            await script_reply(http, llm_url)
            done = 0
            readings: dict[int, float] = {}

            async def worker(share: int) -> None:
                nonlocal done
                for _ in range(share):
                    await run_graph(http, "soak_one")
                    done += 1

            for upto in (checkpoint, total):
                todo = upto - done
                await asyncio.gather(*(worker(todo // parallel + (i < todo % parallel)) for i in range(parallel)))
                await http.delete(f"{llm_url.removesuffix('/v1')}/_scripted/requests")  # the LLM's log, not maghub
                readings[upto] = rss_mib(maghub.proc.pid)
                print(f"after {upto} runs: maghub RSS {readings[upto]:.1f} MiB")
            grown = readings[total] - readings[checkpoint]
            ok = grown <= SOAK_TARGET_MB
            print(
                f"MEMORY graph_soak_{total}_vs_{checkpoint} = {grown:+.1f} MiB "
                f"(target <= +{SOAK_TARGET_MB:g} MB) {'PASS' if ok else 'MISS'}"
            )
            print_ratio(f"graph_soak_{total}_vs_{checkpoint}", readings[total], readings[checkpoint], math.inf)

        await with_maghub(llm_url, [parallel_graph("soak_one", 1)], run, database_url=database_url)


def two_waves(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "nodes": [agent("W1", ["start"], ["J"]), agent("W2", ["start"], ["J"]), agent("J", ["W1", "W2"], ["end"])],
    }


async def first_runs(starts: int, later: int, latency: float, settle: float, database_url: str | None) -> None:
    """Each start: a fresh maghub, model and graph saved, ``settle`` seconds (someone about to use
    it), the first run, then ``later`` runs; wall and maghub CPU time of each."""
    firsts, afters = Samples("first run after a start"), Samples("later runs")
    first_cpu, later_cpu = Samples("first run, maghub CPU"), Samples("later runs, maghub CPU")
    with scripted_llm_process("--latency", str(latency)) as llm_url:
        for _ in range(starts):
            with tempfile.TemporaryDirectory() as tmp:
                maghub = MaghubProcess(Path(tmp) / "data", *maghub_args(database_url))
                pid = maghub.proc.pid
                try:
                    await asyncio.to_thread(maghub.wait_ready, STARTUP_TIMEOUT)
                    async with httpx2.AsyncClient(base_url=maghub.url, timeout=120) as http:
                        await script_reply(http, llm_url)
                        model = {"name": "bench", "base_url": llm_url, "api_key": "sk-bench", "model": "scripted-model"}
                        (await http.post("/models", json=model)).raise_for_status()
                        (await http.post("/graphs", json=two_waves("waves"))).raise_for_status()
                        await asyncio.sleep(settle)
                        for i in range(later + 1):
                            cpu_before = cpu_seconds(pid)
                            wall = await run_graph(http, "waves")
                            cpu = cpu_seconds(pid) - cpu_before
                            (firsts if i == 0 else afters).add(wall)
                            (first_cpu if i == 0 else later_cpu).add(cpu)
                finally:
                    maghub.stop()
    print_table(
        f"two-wave graph, LLM latency {latency * 1e3:.0f} ms, {starts} fresh starts, first run {settle:g} s after "
        "the model and graph were saved",
        [firsts, afters, first_cpu, later_cpu],
    )
    print_ratio("graph_first_run", firsts.median, afters.median, FIRST_RUN_TARGET)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parts = ["fanout", "chain", "runs", "soak", "first_run"]
    parser.add_argument("--only", action="append", choices=parts, help="run just this scenario")
    parser.add_argument("--latency", type=float, default=0.3, help="LLM latency of the fan-out and first-run scenarios")
    parser.add_argument("--reps", type=int, default=7, help="measured repetitions of each fan-out")
    parser.add_argument("--chain-rounds", type=int, default=10, help="measured runs of the 100-node chain")
    parser.add_argument("--soak-runs", type=int, default=2000)
    parser.add_argument("--starts", type=int, default=3, help="fresh starts of the first-run scenario")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds between saving the graph and its first run")
    add_database_option(parser)
    args = parser.parse_args()
    only = set(args.only or parts)
    database_url = args.database_url
    if "fanout" in only:
        asyncio.run(fanouts(args.latency, args.reps, database_url))
    if "chain" in only:
        asyncio.run(per_node_overhead(100, args.chain_rounds, database_url=database_url))
    if "runs" in only:
        asyncio.run(concurrent_runs(50, 5, 0.1, database_url))
    if "soak" in only:
        asyncio.run(soak(args.soak_runs, args.soak_runs // 10, 10, database_url))
    if "first_run" in only:
        asyncio.run(first_runs(args.starts, 5, args.latency, args.settle, database_url))


if __name__ == "__main__":
    main()
