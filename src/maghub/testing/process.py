"""maghub as a separate process, as a user starts it (``python -m maghub serve``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2

MAGHUB_COMMAND = [sys.executable, "-m", "maghub"]


def env_without_maghub_settings(**extra: str) -> dict[str, str]:
    """The current environment minus MAGHUB_* variables, so only what a test says applies."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAGHUB_")}
    return {**env, **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MaghubProcess:
    """``maghub serve`` on a free loopback port; output captured for failure messages."""

    def __init__(self, data_dir: Path, *extra_args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [*MAGHUB_COMMAND, "serve", "--port", str(self.port), "--data-dir", str(data_dir), *extra_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env_without_maghub_settings(**(env or {})),
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"maghub exited during startup:\n{self.stop()}")
            try:
                if httpx2.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx2.HTTPError:
                time.sleep(0.05)
        raise TimeoutError(f"maghub did not answer /health within {timeout} s:\n{self.stop()}")

    def stop(self) -> str:
        """Stop (SIGTERM, then SIGKILL after 20 s) and return everything it printed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return out or ""
