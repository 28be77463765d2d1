"""The one MCP server registry behind ``/mcp/*``, ``/api/servers`` and every tool call (SPEC §3).

Configurations live in the database (``env``, ``headers`` and the secrets of ``args`` and ``url``
encrypted, see :mod:`maghub.mcp.configuration.secrets`); the
:class:`~maghub.mcp.connections.manager.MCPManager` holds the live connections. Every change is committed first
and then applied to the manager, under one lock, so the two never disagree about the set.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maghub.mcp.configuration.secrets import (
    check_no_masked_values,
    masked_server,
    restore_server_secrets,
    sealed_server,
)
from maghub.mcp.configuration.server_config import ServerConfig
from maghub.mcp.connections.manager import ApplyResult, MCPManager
from maghub.mcp.errors import UnknownServerError
from maghub.security.secrets import SecretBox
from maghub.store.database import Database
from maghub.store.repositories.mcp_servers import McpServerRepository
from maghub.store.tables import McpServerRow, utcnow
from maghub.tools.folders import remove_tool_folders


@dataclass(frozen=True)
class AddResult:
    added: list[str]
    duplicates: list[str]


@dataclass(frozen=True)
class RemoveResult:
    removed: list[str]
    not_found: list[str]
    ai_generated: list[str]


class MCPRegistry:
    def __init__(
        self, database: Database, secrets: SecretBox, manager: MCPManager, *, tools_dir: Path | None = None
    ) -> None:
        """``tools_dir``: where AI-generated tools live; a removed tool server's folder there is
        deleted once its processes have stopped (SPEC §11)."""
        self._db = database
        self._secrets = secrets
        self.manager = manager
        self._tools_dir = tools_dir
        self._lock = asyncio.Lock()

    async def start(self, *, connect: bool = True) -> ApplyResult:
        """Hand the stored servers to the manager; enabled ones connect in the background (unless not
        ``connect``: then they wait to be connected). Secrets that rows stored by older versions hold
        in clear (in ``args`` or ``url``) are encrypted first."""
        async with self._lock:
            async with self._db.write() as session:
                for row in await McpServerRepository(session).list(for_update=True):
                    self._update_row(row, self._to_config(row))  # rewrites only a row stored otherwise
            return await self.manager.apply(await self.configs(), connect=connect)

    # --- reading -----------------------------------------------------------------------------------

    async def configs(self) -> list[ServerConfig]:
        async with self._db.read() as session:
            return [self._to_config(row) for row in await McpServerRepository(session).list()]

    async def get(self, name: str) -> ServerConfig:
        async with self._db.read() as session:
            row = await McpServerRepository(session).get(name)
        if row is None:
            raise UnknownServerError(name)
        return self._to_config(row)

    @staticmethod
    def masked(config: ServerConfig) -> ServerConfig:
        """The form that may leave the server: the secrets in ``env``, ``headers``, ``args`` and ``url`` masked."""
        return masked_server(config)

    # --- changing ----------------------------------------------------------------------------------

    async def replace_all(self, configs: Sequence[ServerConfig]) -> ApplyResult:
        """Make ``configs`` the whole set (``POST /mcp/config``). Masked secrets sent back keep the
        stored values; only servers whose configuration changed are reconnected."""
        async with self._lock:
            async with self._db.write() as session:
                repo = McpServerRepository(session)
                rows = {row.name: row for row in await repo.list(for_update=True)}
                wanted = {
                    config.name: restore_server_secrets(config, self._to_config(rows[config.name]))
                    if config.name in rows
                    else config
                    for config in configs
                }
                check_no_masked_values(list(wanted.values()))
                dropped = [self._to_config(row) for name, row in rows.items() if name not in wanted]
                await repo.delete([config.name for config in dropped])
                for name, config in wanted.items():
                    row = rows.get(name)
                    if row is None:
                        repo.add(self._new_row(config))
                    else:
                        self._update_row(row, config)
            applied = await self._apply_stored()
            await remove_tool_folders(self._tools_dir, dropped)
            return applied

    async def add(self, configs: Sequence[ServerConfig]) -> AddResult:
        """Add the servers whose names are new; existing names are reported as duplicates."""
        async with self._lock:
            async with self._db.write() as session:
                repo = McpServerRepository(session)
                existing = {row.name for row in await repo.list()}
                added = [config for config in configs if config.name not in existing]
                check_no_masked_values(added)
                for config in added:
                    repo.add(self._new_row(config))
            if added:
                await self._apply_stored()
            return AddResult(
                added=[config.name for config in added],
                duplicates=[config.name for config in configs if config.name in existing],
            )

    async def update(self, config: ServerConfig) -> ApplyResult:
        """Replace one server's configuration (masked secrets keep the stored values)."""
        async with self._lock:
            async with self._db.write() as session:
                row = await McpServerRepository(session).get(config.name, for_update=True)
                if row is None:
                    raise UnknownServerError(config.name)
                config = restore_server_secrets(config, self._to_config(row))
                check_no_masked_values([config])
                self._update_row(row, config)
            return await self._apply_stored()

    async def remove(self, names: Iterable[str]) -> RemoveResult:
        """Delete servers; their connections end and their processes are stopped before this returns."""
        requested = list(dict.fromkeys(names))
        async with self._lock:
            async with self._db.write() as session:
                repo = McpServerRepository(session)
                rows = {row.name: row for row in await repo.list(for_update=True)}
                removed = [name for name in requested if name in rows]
                await repo.delete(removed)
            if removed:
                await self._apply_stored()
                await remove_tool_folders(self._tools_dir, [self._to_config(rows[name]) for name in removed])
            return RemoveResult(
                removed=removed,
                not_found=[name for name in requested if name not in rows],
                ai_generated=[name for name in removed if rows[name].config.get("ai_generated")],
            )

    # --- helpers -----------------------------------------------------------------------------------

    async def _apply_stored(self) -> ApplyResult:
        return await self.manager.apply(await self.configs())

    def _new_row(self, config: ServerConfig) -> McpServerRow:
        row = McpServerRow(name=config.name, revision=0)
        self._update_row(row, config)
        return row

    def _update_row(self, row: McpServerRow, config: ServerConfig) -> None:
        public, secrets = sealed_server(config)
        if row.revision and public == row.config and self._secrets_of(row) == secrets:
            return  # unchanged: no new revision
        row.config = public
        row.secrets_encrypted = self._secrets.encrypt(json.dumps(secrets)) if secrets else ""
        row.revision = (row.revision or 0) + 1
        row.updated_at = utcnow()

    def _secrets_of(self, row: McpServerRow) -> dict[str, Any]:
        return json.loads(self._secrets.decrypt(row.secrets_encrypted)) if row.secrets_encrypted else {}

    def _to_config(self, row: McpServerRow) -> ServerConfig:
        return ServerConfig.model_validate({**row.config, **self._secrets_of(row), "name": row.name})
