"""Timing policy of MCP connections: connect timeouts, reconnect backoff, liveness checks.

The defaults are the product's (SPEC §4); tests pass a policy with short values.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from maghub.mcp.configuration.server_config import ServerConfig, Transport

# Commands that may download the server before starting it (npm, PyPI, container registries), so
# their first start takes far longer than a handshake.
_PACKAGE_RUNNERS = frozenset({"npx", "uvx", "bunx", "pnpx", "pipx"})
# Tools that are package runners only with certain subcommands ("npm exec", "pnpm dlx", "uv run", …).
_RUNNER_SUBCOMMANDS = {
    "npm": frozenset({"exec", "x"}),
    "pnpm": frozenset({"dlx", "exec"}),
    "yarn": frozenset({"dlx"}),
    "bun": frozenset({"x"}),
    "uv": frozenset({"run", "tool"}),
    "docker": frozenset({"run"}),
    "podman": frozenset({"run"}),
}


def is_package_runner(command: str, args: Sequence[str]) -> bool:
    program = PurePath(command).name.lower().removesuffix(".exe").removesuffix(".cmd")
    if program in _PACKAGE_RUNNERS:
        return True
    subcommands = _RUNNER_SUBCOMMANDS.get(program)
    return bool(subcommands and args and args[0] in subcommands)


@dataclass(frozen=True)
class ConnectionPolicy:
    handshake_timeout: float = 30.0
    """Seconds from spawn (or first HTTP request) to a completed handshake and tool list."""
    package_runner_timeout: float = 180.0
    """The same for commands that may first download the server (npx, uvx, …)."""
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    backoff_jitter: float = 0.2
    """Each delay is shortened by up to this fraction at random, so servers that failed together
    do not all retry at the same moment."""
    heartbeat_interval: float = 30.0
    """HTTP servers only: how often an idle connection is checked (the SDK does not notice a server
    that went away until the next request)."""
    request_timeout: float = 10.0
    """Timeout of the connection's own requests after the handshake (tool list refreshes, heartbeats)."""
    process_poll_interval: float = 1.0
    """stdio servers: how often the server process is checked. Its pipes usually tell first, but a
    child that inherited them can keep them open after the server died."""
    kill_grace: float = 1.0
    """Seconds a stdio server's remaining processes get between SIGTERM and SIGKILL."""
    process_owner: str | None = None
    """Written into every stdio server's environment (``MAGHUB_MCP_OWNER``): which maghub process, of
    which data dir, started it, so that the next start can end what a crashed one left running
    (:mod:`maghub.mcp.connections.orphans`)."""
    max_parallel_connects: int = 8
    tool_result_max_chars: int = 100_000
    """The most characters of one tool result an LLM reads (``MAGHUB_TOOL_RESULT_MAX_CHARS``)."""
    sampler: Any = None
    """Serves servers' sampling requests (a :class:`maghub.mcp.sampling.Sampler`); none: refused."""

    def connect_timeout(self, config: ServerConfig) -> float:
        if config.transport == Transport.STDIO and config.command and is_package_runner(config.command, config.args):
            return max(self.package_runner_timeout, self.handshake_timeout)
        return self.handshake_timeout

    def backoff_delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after ``failures`` consecutive failed attempts (1, 2, 4, … up to the max)."""
        capped = min(self.backoff_max, self.backoff_initial * 2 ** max(0, failures - 1))
        return capped * (1 - self.backoff_jitter * rand())
