"""The model registry: the stored LLM endpoints, their secrets, and one client per model.

Secrets (:mod:`maghub.llm.secrets`) are encrypted at rest: the API key in its own column, a base URL
with credentials and the extra headers in ``secrets_encrypted``, their clear columns holding them with
the secrets left out. Rows stored before that keep loading, and are sealed at startup.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from maghub.errors import InvalidInputError, NotFoundError
from maghub.llm.config import ModelConfig
from maghub.llm.http.pool import LLMClientPool
from maghub.llm.secrets import check_no_masked_values, masked_model, restore_model_secrets, sealed_model
from maghub.security.secrets import SecretBox
from maghub.store.database import Database
from maghub.store.repositories.models import ModelRepository
from maghub.store.tables import ModelRow, utcnow

if TYPE_CHECKING:
    from maghub.llm.client import LLMClient

_COLUMNS = ("name", "base_url", "model", "api_key")
_SEALED = ("base_url", "extra_headers")
# How long a configuration read for a call is reused. This process's own changes apply at once;
# changes another process makes to a shared PostgreSQL database within this many seconds.
CONFIG_CACHE_SECONDS = 5.0


class ModelRegistry:
    def __init__(self, database: Database, secrets: SecretBox, clients: LLMClientPool) -> None:
        self._db = database
        self._secrets = secrets
        self._clients = clients
        # Every chat turn and graph node needs its model's config: reading and decrypting it from
        # the database each time would cost more than the rest of starting the call.
        self._recent: dict[str, tuple[float, ModelConfig]] = {}
        # One read per model at a time: a burst of calls after the cache expired shares it.
        self._loading: dict[str, asyncio.Future[ModelConfig]] = {}
        self._changes = 0  # counts updates and deletes, so a read that raced one is not cached

    async def list_masked(self) -> list[dict[str, Any]]:
        async with self._db.read() as session:
            rows = await ModelRepository(session).list()
            return [self._public_view(row) for row in rows]

    async def names(self) -> set[str]:
        """The configured model names (no secret is decrypted)."""
        async with self._db.read() as session:
            return set(await ModelRepository(session).names())

    async def get_masked(self, name: str) -> dict[str, Any]:
        async with self._db.read() as session:
            return self._public_view(await self._require(ModelRepository(session), name))

    async def get_config(self, name: str) -> ModelConfig:
        """The full configuration with the decrypted key, for calling the model."""
        cached = self._recent.get(name)
        if cached is not None and time.monotonic() - cached[0] < CONFIG_CACHE_SECONDS:
            return cached[1]
        loading = self._loading.get(name)
        if loading is None:
            loading = self._loading[name] = asyncio.ensure_future(self._load_config(name))
            loading.add_done_callback(lambda done: self._loaded(name, done))
        return await asyncio.shield(loading)

    def _loaded(self, name: str, done: asyncio.Future[ModelConfig]) -> None:
        if self._loading.get(name) is done:
            del self._loading[name]
        if not done.cancelled():
            done.exception()  # retrieved: a caller that went away must not leave it "never retrieved"

    async def _load_config(self, name: str) -> ModelConfig:
        changes = self._changes
        async with self._db.read() as session:
            config = self._to_config(await self._require(ModelRepository(session), name))
        if changes == self._changes:
            self._recent[name] = (time.monotonic(), config)
        return config

    async def seal_stored_secrets(self) -> int:
        """Encrypt the secrets that rows stored by older versions hold in clear; returns how many rows
        changed. Cheap when there are none: one read, and no secret is decrypted to find them."""
        async with self._db.read() as session:
            names = [row.name for row in await ModelRepository(session).list() if self._holds_clear_secrets(row)]
        sealed = 0
        for name in names:
            async with self._db.write() as session:
                row = await ModelRepository(session).get(name, for_update=True)
                if row is not None and self._holds_clear_secrets(row):  # another process may have sealed it
                    config = self._to_config(row)
                    self._fill(row, config, api_key=config.api_key)
                    sealed += 1
        return sealed

    async def create(self, config: ModelConfig) -> None:
        check_no_masked_values(config)
        try:
            async with self._db.write() as session:
                repo = ModelRepository(session)
                if await repo.exists(config.name):
                    raise self._name_taken(config.name)
                row = ModelRow(name=config.name)
                self._fill(row, config, api_key=config.api_key)
                repo.add(row)
        except IntegrityError as exc:  # a concurrent create of the same name won the race
            raise self._name_taken(config.name) from exc

    async def update(self, name: str, config: ModelConfig) -> None:
        """Replace the configuration of ``name`` (possibly renaming it).

        A blank or masked ``api_key`` keeps the stored key, and masked parts of ``base_url`` and
        ``extra_headers`` the stored secrets, so a client can send back what it read.
        """
        try:
            async with self._db.write() as session:
                repo = ModelRepository(session)
                row = await self._require(repo, name, for_update=True)
                if config.name != name and await repo.exists(config.name):
                    raise self._name_taken(config.name)
                config = restore_model_secrets(config, self._to_config(row))
                check_no_masked_values(config)
                self._fill(row, config, api_key=config.api_key)
                row.revision += 1
                row.updated_at = utcnow()
        except IntegrityError as exc:
            raise self._name_taken(config.name) from exc
        self._forget(name)
        if config.name != name:
            self._clients.discard(name)

    async def delete(self, name: str) -> None:
        async with self._db.write() as session:
            if not await ModelRepository(session).delete(name):
                raise self._not_found(name)
        self._forget(name)
        self._clients.discard(name)

    async def client(self, name: str) -> LLMClient:
        """The client for ``name``, rebuilt when its configuration changed since last time."""
        return await self._clients.get(await self.get_config(name))

    async def upsert(self, config: ModelConfig) -> None:
        async with self._db.read() as session:
            exists = await ModelRepository(session).exists(config.name)
        if exists:
            await self.update(config.name, config)
        else:
            await self.create(config)

    def _fill(self, row: ModelRow, config: ModelConfig, *, api_key: str) -> None:
        row.name = config.name
        row.model = config.model
        row.api_key_encrypted = self._secrets.encrypt(api_key) if api_key else ""
        clear, secret = sealed_model(config)
        row.base_url = clear["base_url"]
        params = config.model_dump(mode="json", exclude=set(_COLUMNS))
        if clear.get("extra_headers") is not None:
            params["extra_headers"] = clear["extra_headers"]
        row.params = params
        row.secrets_encrypted = self._secrets.encrypt(json.dumps(secret)) if secret else ""

    @staticmethod
    def _holds_clear_secrets(row: ModelRow) -> bool:
        if row.secrets_encrypted:
            return False
        config = ModelConfig.model_validate(
            {**row.params, "name": row.name, "base_url": row.base_url, "model": row.model}
        )
        return bool(sealed_model(config)[1])

    def _forget(self, name: str) -> None:
        self._changes += 1
        self._recent.pop(name, None)
        self._loading.pop(name, None)

    def _to_config(self, row: ModelRow) -> ModelConfig:
        api_key = self._secrets.decrypt(row.api_key_encrypted) if row.api_key_encrypted else ""
        secret = json.loads(self._secrets.decrypt(row.secrets_encrypted)) if row.secrets_encrypted else {}
        return ModelConfig.model_validate(
            {
                **row.params,
                "name": row.name,
                "base_url": row.base_url,
                "model": row.model,
                "api_key": api_key,
                **{name: secret[name] for name in _SEALED if name in secret},
            }
        )

    def _public_view(self, row: ModelRow) -> dict[str, Any]:
        return masked_model(self._to_config(row))

    async def _require(self, repo: ModelRepository, name: str, *, for_update: bool = False) -> ModelRow:
        row = await repo.get(name, for_update=for_update)
        if row is None:
            raise self._not_found(name)
        return row

    @staticmethod
    def _not_found(name: str) -> NotFoundError:
        return NotFoundError(f"Model '{name}' does not exist. List the configured models with GET /models.")

    @staticmethod
    def _name_taken(name: str) -> InvalidInputError:
        return InvalidInputError(
            f"A model named '{name}' already exists. Choose another name, or update it with PUT /models/{{name}}."
        )
