"""One LLM client per configured model.

The openai SDK is imported on first use, not at startup: it costs the server about half a second
of start time, and a server may run for a while before anything calls a model (``tests/test_startup.py``
checks the server path does not import it).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import httpx2

from maghub.llm.config import ModelConfig
from maghub.llm.slots import ModelSlots
from maghub.service.heap import freeze_long_lived_objects

if TYPE_CHECKING:
    from maghub.llm.client import LLMClient


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
        self._clients.clear()
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()


def _new_http_client() -> httpx2.AsyncClient:
    import maghub.llm.client  # noqa: F401  # the SDK with it, while in this worker thread
    from maghub.llm.network import new_http_client

    return new_http_client()
