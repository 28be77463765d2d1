"""Rows of the ``api_keys`` table. Callers own the session (and so the transaction)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from maghub.store.tables import ApiKeyRow, UserRow


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: ApiKeyRow) -> None:
        self._session.add(row)

    async def of_user(self, user_id: str) -> Sequence[ApiKeyRow]:
        query = select(ApiKeyRow).where(ApiKeyRow.user_id == user_id).order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        return (await self._session.scalars(query)).all()

    async def get(self, key_id: str) -> ApiKeyRow | None:
        return await self._session.get(ApiKeyRow, key_id)

    async def with_user(self, key_hash: str) -> tuple[ApiKeyRow, UserRow] | None:
        query = (
            select(ApiKeyRow, UserRow)
            .join(UserRow, UserRow.id == ApiKeyRow.user_id)
            .where(ApiKeyRow.key_hash == key_hash)
        )
        found = (await self._session.execute(query)).first()
        return (found[0], found[1]) if found else None

    async def delete(self, row: ApiKeyRow) -> None:
        await self._session.delete(row)
