"""Rows of the ``mcp_servers`` table. Callers own the session (and so the transaction)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from maghub.store.tables import McpServerRow


class McpServerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def list(self, *, for_update: bool = False) -> Sequence[McpServerRow]:
        query = select(McpServerRow).order_by(McpServerRow.created_at, McpServerRow.name)
        if for_update:
            query = query.with_for_update()
        return (await self._session.scalars(query)).all()

    async def get(self, name: str, *, for_update: bool = False) -> McpServerRow | None:
        query = select(McpServerRow).where(McpServerRow.name == name)
        if for_update:
            query = query.with_for_update()
        return await self._session.scalar(query)

    def add(self, row: McpServerRow) -> None:
        self._session.add(row)

    async def delete(self, names: Iterable[str]) -> int:
        result = await self._session.execute(delete(McpServerRow).where(McpServerRow.name.in_(list(names))))
        return int(cast(CursorResult[Any], result).rowcount or 0)
