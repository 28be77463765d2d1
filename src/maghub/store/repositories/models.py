"""Rows of the ``models`` table. Callers own the session (and so the transaction)."""

from __future__ import annotations

from collections.abc import Sequence

from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from maghub.store.tables import ModelRow


class ModelRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def list(self) -> Sequence[ModelRow]:
        result = await self._session.scalars(select(ModelRow).order_by(ModelRow.created_at, ModelRow.name))
        return result.all()

    async def names(self) -> Sequence[str]:
        return (await self._session.scalars(select(ModelRow.name).order_by(ModelRow.name))).all()

    async def get(self, name: str, *, for_update: bool = False) -> ModelRow | None:
        query = select(ModelRow).where(ModelRow.name == name)
        if for_update:
            query = query.with_for_update()
        return await self._session.scalar(query)

    async def exists(self, name: str) -> bool:
        return await self._session.scalar(select(ModelRow.id).where(ModelRow.name == name)) is not None

    def add(self, row: ModelRow) -> None:
        self._session.add(row)

    async def delete(self, name: str) -> bool:
        result = await self._session.execute(delete(ModelRow).where(ModelRow.name == name))
        return bool(cast(CursorResult[Any], result).rowcount)
