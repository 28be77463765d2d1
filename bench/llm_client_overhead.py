"""What maghub's LLMClient adds to a streamed completion, against the raw openai SDK.

Both stream the same scripted reply from the same scripted LLM (a separate process, so its CPU
time stays out of this one). Each round runs both, in alternating order, so that drift (CPU
frequency, GC, caches warming up) hits both alike; the added cost is the median of the per-round
differences. The baseline does the minimum a caller must do anyway: iterate the stream, keep the
text and the usage. Client CPU time per round is measured too: with many concurrent streams
(``--concurrency 100 --chunk-delay 0.01``) CPU per chunk is what limits a server.

    uv run python bench/llm_client_overhead.py [--n 300] [--words 100] [--concurrency 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from contextlib import aclosing

import httpx2
import openai
from harness import Samples, print_ratio, print_table, scripted_llm_process

from maghub.llm.client import LLMClient
from maghub.llm.config import ModelConfig
from maghub.llm.types import ChunkEvent, FinalEvent

MESSAGES = [{"role": "user", "content": "Tell me a story about a lighthouse keeper."}]
MODEL = "scripted-model"
# Targets for lower-is-better ratios: the client may add at most this fraction to the raw SDK.
TTFT_TARGET = 1.10
TOTAL_TARGET = 1.15


async def via_maghub(client: LLMClient) -> tuple[float, float]:
    start = time.perf_counter()
    first = 0.0
    async with aclosing(client.stream_chat(MESSAGES)) as events:
        async for event in events:
            if not first and isinstance(event, ChunkEvent) and event.content:
                first = time.perf_counter()
            elif isinstance(event, FinalEvent):
                assert event.usage is not None and event.message.content
    return first - start, time.perf_counter() - start


async def via_sdk(sdk: openai.AsyncOpenAI) -> tuple[float, float]:
    start = time.perf_counter()
    first = 0.0
    parts: list[str] = []
    usage = None
    stream = await sdk.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    async with stream:
        async for chunk in stream:
            if chunk.usage:
                usage = chunk.usage
            if chunk.choices and chunk.choices[0].delta.content:
                if not first:
                    first = time.perf_counter()
                parts.append(chunk.choices[0].delta.content)
    assert usage is not None and parts
    return first - start, time.perf_counter() - start


async def measure(base_url: str, n: int, warmup: int, concurrency: int) -> dict[str, Samples]:
    config = ModelConfig(name="bench", base_url=base_url, api_key="sk-bench", model=MODEL)
    kinds = ("ttft", "total", "cpu")
    samples = {f"{who} {kind}": Samples(f"{who} {kind}") for kind in kinds for who in ("maghub", "sdk")}
    async with (
        LLMClient(config) as client,
        openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0, timeout=120) as sdk,
    ):
        runs = {"maghub": lambda: via_maghub(client), "sdk": lambda: via_sdk(sdk)}
        for round_ in range(warmup + n):
            for name in ("maghub", "sdk") if round_ % 2 == 0 else ("sdk", "maghub"):
                cpu = time.process_time()
                results = await asyncio.gather(*(runs[name]() for _ in range(concurrency)))
                cpu = time.process_time() - cpu
                if round_ >= warmup:
                    for ttft, total in results:
                        samples[f"{name} ttft"].add(ttft)
                        samples[f"{name} total"].add(total)
                    samples[f"{name} cpu"].add(cpu / concurrency)
    return samples


def script_reply(base_url: str, words: int, chunk_delay: float) -> None:
    content = " ".join(f"word{i}" for i in range(words))
    rule = {"content": content, "reasoning": "", "chunk_size": 1, "chunk_delay": chunk_delay}
    admin = base_url.removesuffix("/v1") + "/_scripted/rules"
    httpx2.post(admin, json=rule, timeout=10).raise_for_status()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="measured rounds (each streams once per client)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--words", type=int, default=100, help="content chunks per reply (one word each)")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="server-side pause between chunks (s)")
    parser.add_argument("--concurrency", type=int, default=1, help="streams run at once by each client per round")
    args = parser.parse_args()

    with scripted_llm_process() as base_url:
        script_reply(base_url, args.words, args.chunk_delay)
        s = asyncio.run(measure(base_url, args.n, args.warmup, args.concurrency))

    chunks = args.words + 3  # role, words, finish_reason, usage
    print(
        f"LLM client overhead: {args.n} rounds x {args.concurrency} concurrent stream(s), {chunks} chunks per stream "
        f"({args.words} words, chunk delay {args.chunk_delay} s), server {base_url}"
    )
    print_table("time to first token", [s["maghub ttft"], s["sdk ttft"]])
    print_table("time to the end of the stream (usage included)", [s["maghub total"], s["sdk total"]])
    print_table("client CPU time per stream", [s["maghub cpu"], s["sdk cpu"]])
    added_ttft = statistics.median(m - b for m, b in zip(s["maghub ttft"].values, s["sdk ttft"].values, strict=False))
    pairs = zip(s["maghub total"].values, s["sdk total"].values, strict=False)
    added_total = statistics.median(m - b for m, b in pairs)
    print(
        f"\nadded by LLMClient (median of per-stream differences): ttft {added_ttft * 1e3:+.3f} ms, "
        f"total {added_total * 1e3:+.3f} ms = {added_total / chunks * 1e6:+.1f} µs per chunk"
    )
    print(
        f"client CPU per chunk: maghub {s['maghub cpu'].median / chunks * 1e6:.1f} µs, "
        f"sdk {s['sdk cpu'].median / chunks * 1e6:.1f} µs"
    )
    print_ratio("llm_client_ttft", s["maghub ttft"].median, s["sdk ttft"].median, TTFT_TARGET)
    print_ratio("llm_client_total", s["maghub total"].median, s["sdk total"].median, TOTAL_TARGET)
    print_ratio("llm_client_cpu", s["maghub cpu"].median, s["sdk cpu"].median, TOTAL_TARGET)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
