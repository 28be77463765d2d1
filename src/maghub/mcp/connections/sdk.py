"""The MCP SDK loads on first use, in a worker thread, so that the API answers without waiting for it.

Importing the SDK takes about half a second of CPU on a small machine (its protocol types are
hundreds of pydantic models). Only the modules listed in ``SDK_MODULES`` import it, and nothing
imports those at startup: the connections' owner tasks and the probes call :func:`load_sdk` first,
then import them (instantly, as they are loaded by then). Measured by ``bench/mcp_overhead.py``
(startup with 20 servers); ``tests/test_startup.py`` fails if the server path imports the SDK.
"""

from __future__ import annotations

import importlib
import logging
import time

import anyio
import anyio.to_thread

log = logging.getLogger(__name__)

# What the connections and the probes use once connected; importing it imports the SDK.
SDK_MODULES = ("maghub.mcp.connections.live",)

class _Import:
    done = False  # set once every module of SDK_MODULES is imported
# One import at a time, in one worker thread: a thread per waiting connection would cost the event
# loop a thread start each, slow while the import holds the GIL.
_one_import = anyio.Lock()


async def load_sdk() -> None:
    """Import ``SDK_MODULES`` (and with them the SDK) in a worker thread, once per process; the event
    loop keeps serving meanwhile, and concurrent callers wait for the one import under way."""
    if _Import.done:
        return
    async with _one_import:
        if not _Import.done:
            await anyio.to_thread.run_sync(_import_sdk_modules)
            _Import.done = True


def _import_sdk_modules() -> None:
    started = time.perf_counter()
    for name in SDK_MODULES:
        importlib.import_module(name)
    log.debug("MCP SDK loaded", extra={"seconds": round(time.perf_counter() - started, 3)})
