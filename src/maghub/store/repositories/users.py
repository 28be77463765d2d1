"""Rows of the ``users`` table. Callers own the session (and so the transaction)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from maghub.store.tables import UserRow


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, username: str) -> UserRow | None:
        return await self._session.scalar(select(UserRow).where(UserRow.username == username))

    async def get_by_id(self, user_id: str) -> UserRow | None:
        return await self._session.get(UserRow, user_id)

    async def list(self) -> Sequence[UserRow]:
        return (await self._session.scalars(select(UserRow).order_by(UserRow.username))).all()

    async def enabled_admins(self, *, for_update: bool = False) -> Sequence[UserRow]:
        query = select(UserRow).where(UserRow.role == "admin", UserRow.disabled.is_(False)).order_by(UserRow.id)
        if for_update:
            query = query.with_for_update()
        return (await self._session.scalars(query)).all()

    async def delete(self, row: UserRow) -> None:
        await self._session.delete(row)

    async def count(self) -> int:
        return int(await self._session.scalar(select(func.count()).select_from(UserRow)) or 0)

    def add(self, row: UserRow) -> None:
        self._session.add(row)
