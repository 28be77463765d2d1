"""Rows of the ``graphs`` and ``graph_prompt_files`` tables. Callers own the session (and so the transaction)."""

from __future__ import annotations

import builtins

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from maghub.store.tables import GraphPromptFileRow, GraphRow


class GraphRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def names(self) -> builtins.list[str]:
        return list(await self._session.scalars(select(GraphRow.name).order_by(GraphRow.name)))

    async def list(self, *, for_update: bool = False) -> Sequence[GraphRow]:
        query = select(GraphRow).order_by(GraphRow.name)
        if for_update:
            query = query.with_for_update()
        return (await self._session.scalars(query)).all()

    async def get(self, name: str, *, for_update: bool = False) -> GraphRow | None:
        query = select(GraphRow).where(GraphRow.name == name)
        if for_update:
            query = query.with_for_update()
        return await self._session.scalar(query)

    async def get_many(self, names: Iterable[str]) -> Sequence[GraphRow]:
        return (await self._session.scalars(select(GraphRow).where(GraphRow.name.in_(list(names))))).all()

    def add(self, row: GraphRow) -> None:
        self._session.add(row)

    async def delete(self, row: GraphRow) -> None:
        await self._session.delete(row)

    async def prompt_files(self, graph_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        """graph id → {file name: content}, for each of ``graph_ids`` that has any."""
        rows = await self._session.scalars(
            select(GraphPromptFileRow)
            .where(GraphPromptFileRow.graph_id.in_(list(graph_ids)))
            .order_by(GraphPromptFileRow.file_name)
        )
        files: dict[str, dict[str, str]] = {}
        for row in rows:
            files.setdefault(row.graph_id, {})[row.file_name] = row.content
        return files

    async def prompt_file_names(self, graph_id: str) -> builtins.list[str]:
        query = (
            select(GraphPromptFileRow.file_name)
            .where(GraphPromptFileRow.graph_id == graph_id)
            .order_by(GraphPromptFileRow.file_name)
        )
        return list(await self._session.scalars(query))

    async def replace_prompt_files(self, graph_id: str, files: Mapping[str, str]) -> None:
        await self._session.execute(delete(GraphPromptFileRow).where(GraphPromptFileRow.graph_id == graph_id))
        self._session.add_all(
            GraphPromptFileRow(graph_id=graph_id, file_name=name, content=content) for name, content in files.items()
        )
