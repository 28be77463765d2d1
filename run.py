#!/usr/bin/env python3
"""Bootstrap: install what maghub needs into ./.venv (with uv, from the committed lock), then run.

    python3 run.py serve [maghub serve options]   start the server
    python3 run.py test  [pytest options]         run the whole test suite
    python3 run.py bench [script]                 run the benchmarks in bench/
    python3 run.py lint                           ruff and mypy, as CI runs them
    python3 run.py maghub ...                     any maghub command

Needs only Python 3.11+ with pip and venv. uv is used from PATH when present, else installed
into ./.venv-tools (never into the system Python).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".venv-tools"
PROJECT_VENV = ROOT / ".venv"
UV_REQUIREMENT = "uv>=0.9,<1"


def bin_path(env: Path, name: str) -> Path:
    scripts = "Scripts" if os.name == "nt" else "bin"
    suffix = ".exe" if os.name == "nt" else ""
    return env / scripts / f"{name}{suffix}"


def find_uv() -> str:
    on_path = shutil.which("uv")
    if on_path:
        return on_path
    uv = bin_path(TOOLS, "uv")
    if not uv.exists():
        print("run.py: installing uv into .venv-tools (one time)", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
        subprocess.run(
            [str(bin_path(TOOLS, "python")), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             UV_REQUIREMENT],
            check=True,
        )
    return str(uv)


def sync(uv: str) -> None:
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(PROJECT_VENV)}
    # Trust the system's certificate store (as pip does), so networks with their own root CA work;
    # UV_NATIVE_TLS is the older spelling of the same switch.
    env.setdefault("UV_SYSTEM_CERTS", "1")
    env.setdefault("UV_NATIVE_TLS", "1")
    # Compiled bytecode: without it every start recompiles the web stack (about twice as slow).
    subprocess.run([uv, "sync", "--frozen", "--quiet", "--compile-bytecode"], cwd=ROOT, env=env, check=True)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    if sys.version_info < (3, 11):
        print("maghub needs Python 3.11 or newer", file=sys.stderr)
        return 2
    action, rest = argv[0], argv[1:]
    commands = {
        "serve": [str(bin_path(PROJECT_VENV, "maghub")), "serve", *rest],
        "test": [str(bin_path(PROJECT_VENV, "python")), "-m", "pytest", *rest],
        "maghub": [str(bin_path(PROJECT_VENV, "maghub")), *rest],
        "bench": [str(bin_path(PROJECT_VENV, "python")), str(ROOT / "bench" / "run_all.py"), *rest],
        "lint": [str(bin_path(PROJECT_VENV, "ruff")), "check", "src", "tests", "bench", *rest],
    }
    if action not in commands:
        print(f"run.py: unknown action {action!r}; use one of: {', '.join(commands)}", file=sys.stderr)
        return 2
    try:
        sync(find_uv())
    except subprocess.CalledProcessError as exc:
        print(f"run.py: installing dependencies failed ({exc})", file=sys.stderr)
        return 1
    os.chdir(ROOT)
    completed = subprocess.run(commands[action])
    if action == "lint" and completed.returncode == 0:
        completed = subprocess.run([str(bin_path(PROJECT_VENV, "mypy"))])  # packages and settings: pyproject.toml
    return completed.returncode


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
