"""Helpers shared by the benchmarks: samples, percentiles, a results table, ratio lines, and the
scripted LLM as a separate process.

Benchmarks report and never fail on a missed target (exit status 0): the numbers depend on the
machine, and a human reads the PASS/MISS lines. Each ratio line has one fixed format so that
scripts can grep it::

    RATIO <name> maghub/baseline = <x> (target <= <t>) PASS|MISS
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2


@dataclass
class Samples:
    """Durations in seconds for one measured quantity."""

    name: str
    values: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        self.values.append(seconds)

    def percentile(self, q: float) -> float:
        return percentile(self.values, q)

    @property
    def median(self) -> float:
        return self.percentile(50)

    @property
    def p90(self) -> float:
        return self.percentile(90)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def print_table(title: str, rows: Sequence[Samples]) -> None:
    """Milliseconds: p50, p90, min and the sample count of each row."""
    width = max(len(r.name) for r in rows)
    print(f"\n{title}")
    print(f"  {'':<{width}}  {'p50 ms':>9}  {'p90 ms':>9}  {'min ms':>9}  {'n':>5}")
    for r in rows:
        low = min(r.values) if r.values else math.nan
        print(f"  {r.name:<{width}}  {r.median * 1e3:9.3f}  {r.p90 * 1e3:9.3f}  {low * 1e3:9.3f}  {len(r.values):5d}")


def print_ratio(name: str, maghub: float, baseline: float, target: float) -> bool:
    """Print the ratio line for a lower-is-better quantity; True when within the target."""
    ratio = maghub / baseline if baseline > 0 else math.inf
    ok = ratio <= target
    print(f"RATIO {name} maghub/baseline = {ratio:.3f} (target <= {target:g}) {'PASS' if ok else 'MISS'}")
    return ok


def print_added(name: str, maghub: float, baseline: float, target_ms: float) -> bool:
    """Print the ratio line and the time maghub adds (seconds in, ms out) against an absolute target."""
    print_ratio(name, maghub, baseline, math.inf)
    added_ms = (maghub - baseline) * 1e3
    ok = added_ms <= target_ms
    print(f"ADDED {name} = {added_ms:.3f} ms (target <= {target_ms:g} ms) {'PASS' if ok else 'MISS'}")
    return ok


@contextmanager
def scripted_llm_process(*args: str, startup_timeout: float = 20.0) -> Iterator[str]:
    """``python -m maghub.testing.scripted_llm`` on a free port; yields its base URL (``.../v1``).

    A separate process keeps the server's CPU time out of the measured process (and off its GIL).
    """
    with scripted_llm_server(*args, startup_timeout=startup_timeout) as (base_url, _pid):
        yield base_url


@contextmanager
def scripted_llm_server(*args: str, startup_timeout: float = 20.0) -> Iterator[tuple[str, int]]:
    """:func:`scripted_llm_process`, yielding the process id too (to read its CPU time)."""
    command = [
        sys.executable,
        "-m",
        "maghub.testing.scripted_llm",
        "--port",
        "0",
        "--log-level",
        "warning",
        *args,
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()  # "scripted LLM listening on http://127.0.0.1:<port>/v1"
            if not line:
                raise RuntimeError("the scripted LLM process exited before listening")
            base_url = line.rsplit(" ", 1)[-1].strip()
            _wait_until_serving(base_url, startup_timeout)
            yield base_url, process.pid
        finally:
            process.terminate()
            process.wait(10)


def _wait_until_serving(base_url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx2.Client(timeout=timeout) as http:
        while True:
            try:
                http.get(base_url + "/models").raise_for_status()
                return
            except httpx2.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


STARTUP_TIMEOUT = 120.0
"""Seconds a benchmark waits for maghub to answer: a loaded machine starts it slowly."""


def add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=None,
        help="maghub's database (e.g. postgresql+asyncpg://user@127.0.0.1:5432/bench, an empty database); "
        "default: SQLite in a fresh data dir",
    )


def maghub_args(database_url: str | None) -> list[str]:
    """``maghub serve`` arguments for a benchmark: quiet, on ``database_url`` if given."""
    return ["--log-level", "warning", *(["--database-url", database_url] if database_url else [])]


def database_label(database_url: str | None) -> str:
    return database_url.split(":", 1)[0].split("+", 1)[0] if database_url else "sqlite"


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")
