"""One LLM client per configured model.

The openai SDK is imported on first use, not at startup: it costs the server about half a second
of start time, and a server may run for a while before anything calls a model (``tests/test_startup.py``
checks the server path does not import it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import httpx2

from maghub.llm.config import ModelConfig
from maghub.llm.slots import ModelSlots
from maghub.service.heap import freeze_long_lived_objects

if TYPE_CHECKING:
    from maghub.llm.client import LLMClient

log = logging.getLogger(__name__)

WARM_UP_DELAY_SECONDS = 0.2
"""How long after startup the LLM stack starts loading: the API answers first."""


def config_fingerprint(config: ModelConfig) -> str:
    """Changes whenever anything in the config does, the key included (so a new key takes effect)."""
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()


class LLMClientPool:
    """One :class:`LLMClient` per model name, rebuilt when that model's config changes.

    All clients share one HTTP connection pool owned by the pool. Replacing a client therefore
    closes nothing, so streams still running on the old client finish undisturbed; the shared
    pool is closed by :meth:`aclose` at shutdown. The clients of one model name share its call
    slots (``max_concurrency``), so a config change neither resets nor doubles the limit.
    """

    def __init__(self, **client_options: Any) -> None:
        self._options = client_options
        self._clients: dict[str, tuple[ModelConfig, str, LLMClient]] = {}
        self._slots: dict[str, ModelSlots] = {}
        self._http: httpx2.AsyncClient | None = None
        self._http_lock = anyio.Lock()
        self._warming: asyncio.Task[None] | None = None

    def warm_up_soon(self, delay: float = WARM_UP_DELAY_SECONDS) -> None:
        """Load the LLM stack (the SDK, the HTTP client and its CA store, ~250 ms) in the background
        shortly after startup, so that the first chat or run after a start does not wait for it. The
        work runs in a worker thread; a call made meanwhile waits for the same load."""
        if self._warming is None:
            self._warming = asyncio.get_running_loop().create_task(self._warm_up(delay))

    async def _warm_up(self, delay: float) -> None:
        await anyio.sleep(delay)
        try:
            await self._http_client()
        except Exception:  # a call loads it again, and reports what is wrong  # noqa: BLE001
            log.warning("could not load the LLM client stack in advance", exc_info=True)

    async def get(self, config: ModelConfig) -> LLMClient:
        entry = self._clients.get(config.name)
        if entry is not None and entry[0] is config:  # the registry hands out the same object while it is current
            return entry[2]
        fingerprint = config_fingerprint(config)
        if entry is not None and entry[1] == fingerprint:
            self._clients[config.name] = (config, fingerprint, entry[2])
            return entry[2]
        http_client = await self._http_client()  # imports the SDK off the event loop the first time
        from maghub.llm.client import LLMClient

        slots = self._slots.get(config.name)
        if slots is None:
            slots = self._slots[config.name] = ModelSlots(config.max_concurrency)
        else:
            slots.limit = config.max_concurrency
        client = LLMClient(config, http_client=http_client, slots=slots, **self._options)
        self._clients[config.name] = (config, fingerprint, client)
        return client

    def discard(self, name: str) -> None:
        """Forget a deleted model's client (its running streams are not affected)."""
        self._clients.pop(name, None)
        self._slots.pop(name, None)

    @property
    def loaded(self) -> bool:
        """The LLM stack is loaded: a call no longer waits for it."""
        return self._http is not None

    def __len__(self) -> int:
        return len(self._clients)

    async def _http_client(self) -> httpx2.AsyncClient:
        if self._http is None:
            async with self._http_lock:
                if self._http is None:
                    # Importing the SDK (half a second) and loading the system CA store (tens of
                    # milliseconds) both block: keep them off the event loop.
                    self._http = await anyio.to_thread.run_sync(_new_http_client)
                    freeze_long_lived_objects()  # the SDK just loaded: a large part of the heap
        return self._http

    async def aclose(self) -> None:
        if self._warming is not None and not self._warming.done():
            self._warming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warming
        self._clients.clear()
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()


def _new_http_client() -> httpx2.AsyncClient:
    import maghub.llm.client  # noqa: F401  # the SDK with it, while in this worker thread
    from maghub.llm.http.network import new_http_client

    return new_http_client()
