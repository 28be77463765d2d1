"""Rows of the ``users`` table. Callers own the session (and so the transaction)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from maghub.store.tables import UserRow


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, username: str) -> UserRow | None:
        return await self._session.scalar(select(UserRow).where(UserRow.username == username))

    async def count(self) -> int:
        return int(await self._session.scalar(select(func.count()).select_from(UserRow)) or 0)

    def add(self, row: UserRow) -> None:
        self._session.add(row)
