"""The composition root: builds the services a running maghub needs, and closes them."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

from maghub.errors import ConfigurationError
from maghub.lifecycle import ActivityTracker, ShutdownController
from maghub.llm.client import LLMClientPool
from maghub.llm.registry import ModelRegistry
from maghub.security.secrets import SecretBox, load_or_create_key
from maghub.settings import Settings
from maghub.store.database import Database

log = logging.getLogger(__name__)


def _signal_own_process() -> None:
    # Any ASGI server (uvicorn, hypercorn) treats SIGTERM as "finish in-flight requests, then exit".
    os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class Runtime:
    settings: Settings
    database: Database
    secrets: SecretBox
    models: ModelRegistry
    llm_clients: LLMClientPool
    activity: ActivityTracker
    shutdown: ShutdownController

    @classmethod
    async def start(cls, settings: Settings, request_exit: Callable[[], None] | None = None) -> Runtime:
        ensure_data_dir(settings)
        database = Database(settings.resolved_database_url)
        try:
            await database.migrate()
            secrets = SecretBox(load_or_create_key(settings.data_dir, _secret(settings)))
        except BaseException:
            await database.dispose()
            raise
        llm_clients = LLMClientPool(default_timeout=settings.llm_timeout_seconds)
        activity = ActivityTracker()
        log.info("database ready", extra={"database": database.safe_url})
        return cls(
            settings=settings,
            database=database,
            secrets=secrets,
            models=ModelRegistry(database, secrets, llm_clients),
            llm_clients=llm_clients,
            activity=activity,
            shutdown=ShutdownController(activity, request_exit or _signal_own_process),
        )

    async def aclose(self) -> None:
        self.activity.closing = True
        drained = await self.activity.wait_idle(self.settings.shutdown_grace_seconds)
        if not drained:
            log.warning("closing with sessions still in flight", extra={"active_sessions": self.activity.count})
        await self.llm_clients.aclose()
        await self.database.dispose()


def _secret(settings: Settings) -> str | None:
    return settings.secret_key.get_secret_value() if settings.secret_key else None


def ensure_data_dir(settings: Settings) -> None:
    """Create the data dir (private to this user) or fail with a message that says how to fix it."""

    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigurationError(
            f"The data dir {path} is not writable ({exc.strerror or exc}). "
            "Choose another with --data-dir or MAGHUB_DATA_DIR, or fix its permissions."
        ) from exc
