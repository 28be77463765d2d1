"""The OpenAPI document tells the truth: schemathesis runs every operation (a few examples each, all of
its default checks) against a real maghub, in local mode and in auth mode (with and without a token),
and must find nothing. Its settings are the project's ``schemathesis.toml``.

The server runs as its own process with an empty PATH and every proxy variable pointing at a closed
port, so no generated command can start a program and no generated URL leaves the machine (the
operations that store or reach endpoints get only schema-violating requests, see the toml)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "schemathesis.toml"
EXAMPLES_PER_OPERATION = 3
CLOSED_PORT_PROXY = "http://127.0.0.1:9"
ADMIN, ADMIN_PASSWORD = "root", "root-password-for-schemathesis"


def _server_environment(home: Path, *, auth: bool) -> dict[str, str]:
    empty_bin = home / "empty-bin"
    empty_bin.mkdir(parents=True, exist_ok=True)
    environment = {
        "PATH": str(empty_bin),
        "HOME": str(home),
        "MAGHUB_DATA_DIR": str(home / "data"),
        "MAGHUB_LOG_LEVEL": "warning",
        "MAGHUB_AUTH_ENABLED": "true" if auth else "false",
        "MAGHUB_MCP_APPLY_WAIT_SECONDS": "0.5",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        environment[name] = CLOSED_PORT_PROXY
    return environment


@contextmanager
def serving(home: Path, *, auth: bool) -> Iterator[str]:
    environment = _server_environment(home, auth=auth)
    if auth:
        subprocess.run(
            [sys.executable, "-m", "maghub", "users", "create", ADMIN, "--admin"],
            input=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n",
            text=True,
            env=environment,
            cwd=home,
            check=True,
            capture_output=True,
            timeout=60,
        )
    server = subprocess.Popen(
        [sys.executable, "-m", "maghub", "serve", "--port", "0"],
        env={**environment, "COLUMNS": "300"},
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert "listening on " in line, f"maghub did not start: {line}{server.stdout.read() if server.poll() else ''}"
        yield line.split("listening on ", 1)[1].split()[0]
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def run_schemathesis(url: str, workdir: Path, *options: str, examples: int = EXAMPLES_PER_OPERATION) -> None:
    """Runs in ``workdir``: schemathesis keeps a cache in its working directory."""
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "--no-color",
        "run", f"{url}/openapi.json",
        "--max-examples", str(examples), "--seed", "1", "--generation-deterministic",
        "--request-timeout", "15", *options,
    ]  # fmt: skip
    environment = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=environment, cwd=workdir, check=False
    )
    assert result.returncode == 0, f"schemathesis found problems:\n{result.stdout[-20000:]}\n{result.stderr[-3000:]}"


def test_local_mode(tmp_path: Path) -> None:
    with serving(tmp_path, auth=False) as url:
        run_schemathesis(url, tmp_path)


def test_auth_mode(tmp_path: Path) -> None:
    with serving(tmp_path, auth=True) as url:
        login = httpx2.post(f"{url}/api/auth/login", json={"username": ADMIN, "password": ADMIN_PASSWORD})
        token = login.raise_for_status().json()["access_token"]
        # The MAG routes under /api are the very same route objects as at the root (local mode runs
        # both); here the root's stand for them, which keeps the whole test near a minute.
        mag_under_api = "^/api/(chat|graphs|models|mcp|system)(/|$)"
        run_schemathesis(
            url, tmp_path, "--header", f"Authorization: Bearer {token}", "--exclude-path-regex", mag_under_api
        )
        # Nobody signed in: every operation but login and health answers a documented 401.
        run_schemathesis(url, tmp_path, "--phases", "examples,fuzzing", examples=2)
