"""A tool's own virtual environment, made with uv (SPEC §11).

uv comes with maghub (a dependency; its binary is found through the installed package, never on
PATH, so the version is the one maghub was tested with). The environment uses the interpreter
maghub runs on, and always contains the MCP SDK (the version maghub itself uses, which the
generator template teaches) unless the design names ``mcp`` itself.

Both steps run as child processes (nothing blocks the event loop) in a session of their own, so a
time limit or a cancelled request ends the installer *and* whatever it started (build backends).
uv's cache makes a repeat cheap: measured here, ``uv venv`` 0.07 s and installing ``mcp`` (32
packages) 1.5 s warm, 2.6 s cold; packages are linked from the cache, not copied, where the file
system allows it. Bytecode is not compiled at install (``--compile-bytecode`` compiles every
installed module: +9 s on a loaded 2-core machine); the server writes the bytecode of what it
imports on its first start, which registration waits for anyway.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from contextlib import suppress
from functools import cache
from importlib.metadata import version
from pathlib import Path

from maghub.errors import ConfigurationError, InvalidInputError
from maghub.tools.dependencies import requirement_name

log = logging.getLogger(__name__)

VENV_DIR = ".venv"
MAX_MESSAGE_CHARS = 4000


class InstallError(InvalidInputError):
    """The installer refused or failed; the message is its own (what to fix is in it)."""


@cache
def uv_binary() -> str:
    try:
        from uv import find_uv_bin
    except ImportError as exc:  # a broken install: uv is a declared dependency
        raise ConfigurationError(
            "The 'uv' package is missing: reinstall maghub (uv is one of its dependencies)."
        ) from exc
    return find_uv_bin()


def mcp_requirement() -> str:
    """The SDK pinned to the version maghub runs (the one the template's example is checked against)."""
    return f"mcp=={version('mcp')}"


def environment_python(folder: Path) -> Path:
    scripts, name = ("Scripts", "python.exe") if os.name == "nt" else ("bin", "python")
    return folder / VENV_DIR / scripts / name


async def create_environment(folder: Path, requirements: list[str], *, timeout: float) -> Path:
    """Make ``folder/.venv`` with ``requirements`` and the MCP SDK; returns its Python.

    Raises InstallError with the installer's message, or when ``timeout`` seconds (for both steps)
    run out. Leaves the half-made environment for the caller to remove with the folder."""
    wanted = list(requirements)
    if "mcp" not in {requirement_name(requirement) for requirement in wanted}:
        wanted.insert(0, mcp_requirement())
    python = environment_python(folder)
    started = time.monotonic()
    deadline = started + timeout
    await _run_uv(
        ["venv", "--python", sys.executable, "--no-project", str(folder / VENV_DIR)],
        cwd=folder,
        deadline=deadline,
        timeout=timeout,
        step="Creating the tool's virtual environment",
    )
    created = time.monotonic()
    await _run_uv(
        ["pip", "install", "--python", str(python), "--", *wanted],
        cwd=folder,
        deadline=deadline,
        timeout=timeout,
        step="Installing the tool's dependencies",
    )
    log.info(
        "tool environment ready",
        extra={
            "tool_folder": str(folder),
            "requirements": wanted,
            "venv_seconds": round(created - started, 3),
            "install_seconds": round(time.monotonic() - created, 3),
        },
    )
    return python


async def _run_uv(args: list[str], *, cwd: Path, deadline: float, timeout: float, step: str) -> None:
    environment = {**os.environ, "NO_COLOR": "1", "UV_NO_PROGRESS": "1"}
    environment.pop("VIRTUAL_ENV", None)  # the target is always given explicitly
    # Trust the system's certificate store, as pip does (and run.py's own install): networks with a
    # root CA of their own otherwise fail every download. UV_NATIVE_TLS is the older spelling.
    environment.setdefault("UV_SYSTEM_CERTS", "1")
    environment.setdefault("UV_NATIVE_TLS", "1")
    process = await asyncio.create_subprocess_exec(
        uv_binary(),
        *args,
        cwd=cwd,
        env=environment,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        async with asyncio.timeout_at(asyncio.get_running_loop().time() + max(0.0, deadline - time.monotonic())):
            output, _ = await process.communicate()
    except TimeoutError:
        raise InstallError(
            f"{step} did not finish within {timeout:g} s and was stopped. Try fewer or lighter dependencies, "
            "or raise MAGHUB_TOOL_INSTALL_TIMEOUT_SECONDS."
        ) from None
    finally:
        if process.returncode is None:
            await _end_session(process)
    if process.returncode != 0:
        message = output.decode(errors="replace").strip()[-MAX_MESSAGE_CHARS:]
        raise InstallError(f"{step} failed (uv exit status {process.returncode}):\n{message}")


async def _end_session(process: asyncio.subprocess.Process) -> None:
    """Kill the installer and everything it started (its session), then reap it."""
    with suppress(ProcessLookupError):
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    await asyncio.shield(process.wait())
