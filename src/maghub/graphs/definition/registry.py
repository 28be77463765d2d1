"""The stored graphs: save (create or update, with a version counter), rename, delete, README, prompt
files, and the compiled form a run starts from.

Graphs are stored as submitted; subgraph nodes stay references and are expanded by
:meth:`GraphRegistry.load_for_run` with the subgraphs' current versions (SPEC §3, §6). Changes are
made under one lock, so checks that span graphs (subgraph references when saving, deleting and
renaming) see a settled set.

Ownership (SPEC §9): in auth mode a graph belongs to the user who created it (an import's graphs to
the importer); only they or an admin may replace, rename or delete it. The changing methods take an
``editor``: the acting user in auth mode, None in local mode (no owners recorded or checked).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from maghub.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from maghub.graphs.definition.compile import CompiledGraph, compile_graph
from maghub.graphs.definition.config import GraphConfig, GraphDocument, name_problem
from maghub.graphs.definition.readme import render_readme
from maghub.graphs.definition.validation import (
    Catalog,
    GraphProblem,
    GraphValidationError,
    ValidationReport,
    validate_document,
)
from maghub.store.database import Database
from maghub.store.repositories.graphs import GraphRepository
from maghub.store.repositories.users import UserRepository
from maghub.store.tables import GraphRow, utcnow

if TYPE_CHECKING:
    from maghub.auth.users import User
    from maghub.llm.registry import ModelRegistry
    from maghub.mcp.registry import MCPRegistry


@dataclass(frozen=True)
class StoredGraph:
    name: str
    config: dict[str, Any]
    """As submitted (without ``readme``/``prompt_files``/``version``, which are kept apart)."""
    version: int
    readme: str | None
    """The README written for the graph, or None (then it is generated)."""
    prompt_file_names: tuple[str, ...]
    created_at: datetime
    updated_at: datetime

    def parsed(self) -> GraphConfig:
        return _parse_stored(self.name, self.config)

    def public_view(self) -> dict[str, Any]:
        """What ``GET /graphs/{name}`` returns: the configuration as submitted, plus its version."""
        return {**self.config, "version": self.version}


@dataclass(frozen=True)
class GraphSummary:
    """What describes a graph to a caller that runs it (the gateway's tool list)."""

    name: str
    description: str
    readme: str | None
    """The README written for the graph, or None."""
    version: int


@dataclass(frozen=True)
class SaveResult:
    name: str
    version: int
    created: bool
    warnings: tuple[GraphProblem, ...]


class GraphRegistry:
    def __init__(self, database: Database, models: ModelRegistry, mcp: MCPRegistry) -> None:
        self._db = database
        self._models = models
        self._mcp = mcp
        self._lock = asyncio.Lock()

    # --- reading -----------------------------------------------------------------------------------

    async def names(self) -> list[str]:
        async with self._db.read() as session:
            return await GraphRepository(session).names()

    async def summaries(self) -> list[GraphSummary]:
        """Every graph's name, description and written README, in name order, in one query."""
        async with self._db.read() as session:
            rows = await GraphRepository(session).list()
        return [
            GraphSummary(row.name, str(row.config.get("description") or ""), row.readme, row.version) for row in rows
        ]

    async def get(self, name: str) -> StoredGraph:
        async with self._db.read() as session:
            repo = GraphRepository(session)
            row = await self._require(repo, name)
            return _stored(row, await repo.prompt_file_names(row.id))

    async def readme(self, name: str) -> tuple[StoredGraph, str]:
        """The graph and its README: the written one, else one generated from the configuration."""
        graph = await self.get(name)
        if graph.readme is not None:
            return graph, graph.readme
        models = {
            model["name"]: f"`{model['model']}` at {model['base_url']}" for model in await self._models.list_masked()
        }
        servers = {
            server.name: f"{server.transport.value}, {'enabled' if server.enabled else 'disabled'}"
            for server in await self._mcp.configs()
        }
        return graph, render_readme(graph.parsed(), models=models, mcp_servers=servers)

    async def prompt_files(self, name: str) -> dict[str, str]:
        async with self._db.read() as session:
            repo = GraphRepository(session)
            row = await self._require(repo, name)
            return (await repo.prompt_files([row.id])).get(row.id, {})

    async def export_document(self, name: str) -> dict[str, Any]:
        """The graph as a self-contained document (the configuration, a written README, prompt files);
        ``POST /graphs`` and the imports take it back as it is. It never holds secrets."""
        async with self._db.read() as session:
            repo = GraphRepository(session)
            row = await self._require(repo, name)
            files = (await repo.prompt_files([row.id])).get(row.id, {})
        document = copy.deepcopy(row.config)
        if row.readme is not None:
            document["readme"] = row.readme
        if files:
            document["prompt_files"] = files
        return document

    async def load_for_run(self, name: str) -> CompiledGraph:
        """The graph compiled with the current versions of its subgraphs, and every prompt file they use.

        Raises NotFoundError for an unknown graph and GraphValidationError (400) when it cannot run as
        stored (a subgraph deleted with ``force``, a reference cycle). Unknown models and MCP servers are
        left to the engine: :meth:`CompiledGraph.unknown_references`.
        """
        async with self._db.read() as session:
            repo = GraphRepository(session)
            rows = {name: await self._require(repo, name)}
            wanted = _references(rows[name])
            while missing := wanted - rows.keys():
                found = await repo.get_many(missing)
                if not found:
                    break  # compile_graph names the graphs that do not exist
                rows.update({row.name: row for row in found})
                wanted = set().union(*(_references(row) for row in rows.values()))
            files = await repo.prompt_files(row.id for row in rows.values())
        configs = {graph: _parse_stored(graph, row.config) for graph, row in rows.items()}
        return compile_graph(
            configs[name],
            configs,
            versions={graph: row.version for graph, row in rows.items()},
            prompt_files={graph: files.get(row.id, {}) for graph, row in rows.items()},
        )

    # --- changing ----------------------------------------------------------------------------------

    async def save(
        self, document: GraphDocument, *, create_only: bool = False, editor: User | None = None
    ) -> SaveResult:
        """Create or replace the graph ``document.name`` (``create_only``: 409 if it exists); a new graph
        belongs to ``editor``, and replacing another user's graph is a 403 (unless ``editor`` is an admin).

        Every problem is raised at once (:class:`GraphValidationError`); unknown models, MCP servers and
        prompt files come back as warnings. A ``readme`` or ``prompt_files`` key replaces what is stored;
        without one, the stored README and prompt files stay.
        """
        models, servers = await self._known_names()
        stored_form = document.stored_form()
        try:
            async with self._lock, self._db.write() as session:
                repo = GraphRepository(session)
                rows = {row.name: row for row in await repo.list(for_update=True)}
                row = rows.get(document.name)
                if row is not None and not create_only:
                    await _check_may_change(session, row, editor)
                report = await self._review(
                    repo, rows, document, create_only, Catalog(models=models, mcp_servers=servers)
                )
                created = row is None
                if row is None:
                    owner_id = editor.id if editor is not None else None
                    row = GraphRow(name=document.name, config=stored_form, version=1, owner_id=owner_id)
                    repo.add(row)
                    await session.flush()
                else:
                    row.config = stored_form
                    row.version += 1
                    row.updated_at = utcnow()
                if document.has_readme:
                    row.readme = document.readme or None
                if document.has_prompt_files:
                    await repo.replace_prompt_files(row.id, document.prompt_files or {})
                return SaveResult(document.name, row.version, created, report.warnings)
        except IntegrityError as exc:  # another process saved the same new name at the same moment
            raise ConflictError(f"Graph '{document.name}' was saved concurrently; send the request again.") from exc

    async def check_new(
        self, documents: Iterable[GraphDocument], *, models_added: Iterable[str] = (), servers_added: Iterable[str] = ()
    ) -> None:
        """Raise what :meth:`save` with ``create_only`` would for each of ``documents``, storing nothing.

        The documents are checked as a set to be created together: they may use each other as
        subgraphs, and the models and MCP servers named in ``models_added``/``servers_added`` count
        as configured."""
        pending = {document.name: document for document in documents}
        models, servers = await self._known_names()
        catalog = Catalog(models=models | set(models_added), mcp_servers=servers | set(servers_added))
        async with self._db.read() as session:
            repo = GraphRepository(session)
            rows = {row.name: row for row in await repo.list()}
            references = {name: _references(row) for name, row in rows.items()}
            references.update({name: document.subgraph_names() for name, document in pending.items()})
            for document in pending.values():
                await self._review(repo, rows, document, True, catalog, references)

    async def subgraph_closure(self, name: str) -> list[str]:
        """The graphs ``name`` uses as subgraphs, directly or deeper, each once (``name`` left out)."""
        async with self._db.read() as session:
            rows = {row.name: row for row in await GraphRepository(session).list()}
        if name not in rows:
            raise _not_found(name)
        found: list[str] = []
        waiting = sorted(_references(rows[name]))
        while waiting:
            current = waiting.pop(0)
            if current in found or current == name or current not in rows:
                continue
            found.append(current)
            waiting += sorted(_references(rows[current]))
        return found

    async def _known_names(self) -> tuple[set[str], set[str]]:
        return await self._models.names(), {server.name for server in await self._mcp.configs()}

    async def _review(
        self,
        repo: GraphRepository,
        rows: Mapping[str, GraphRow],
        document: GraphDocument,
        create_only: bool,
        known: Catalog,
        references: Mapping[str, Iterable[str]] | None = None,
    ) -> ValidationReport:
        """Validate ``document`` against the stored graphs (``references``: name → the graphs it uses,
        when not only the stored ones count); every error raised at once."""
        row = rows.get(document.name)
        if row is not None and create_only:
            raise ConflictError(
                f"A graph named '{document.name}' exists already. Rename one of them, or replace it with POST /graphs."
            )
        if document.has_prompt_files:
            prompt_files: Iterable[str] = (document.prompt_files or {}).keys()
        else:
            prompt_files = await repo.prompt_file_names(row.id) if row is not None else ()
        if references is None:
            references = {name: _references(other) for name, other in rows.items()}
        catalog = dataclasses.replace(
            known,
            graphs={name: set(uses) for name, uses in references.items() if name != document.name},
            prompt_files=set(prompt_files),
        )
        report = validate_document(document, catalog)
        if report.errors:
            raise GraphValidationError(document.name, report.errors)
        return report

    async def delete(self, name: str, *, force: bool = False, editor: User | None = None) -> list[str]:
        """Delete ``name``; returns the graphs that still refer to it as a subgraph (only with ``force``:
        without it, such references are a 409)."""
        async with self._lock, self._db.write() as session:
            repo = GraphRepository(session)
            rows = {row.name: row for row in await repo.list(for_update=True)}
            row = rows.get(name)
            if row is None:
                raise _not_found(name)
            await _check_may_change(session, row, editor)
            users = sorted(other for other, user in rows.items() if other != name and name in _references(user))
            if users and not force:
                listed = ", ".join(f"'{user}'" for user in users)
                raise ConflictError(
                    f"Graph '{name}' is used as a subgraph by {listed}. Remove those subgraph nodes first, or "
                    "delete with ?force=true (those graphs then cannot run until they are changed)."
                )
            await repo.delete(row)
            return users

    async def rename(self, old: str, new: str, *, editor: User | None = None) -> list[str]:
        """Rename ``old`` to ``new`` and point the subgraph nodes of other graphs at the new name;
        returns those graphs' names."""
        if problem := name_problem(new):
            raise InvalidInputError(f"The new graph name {problem}.")
        async with self._lock, self._db.write() as session:
            repo = GraphRepository(session)
            rows = {row.name: row for row in await repo.list(for_update=True)}
            row = rows.get(old)
            if row is None:
                raise _not_found(old)
            await _check_may_change(session, row, editor)
            if old == new:
                return []
            if new in rows:
                raise ConflictError(f"A graph named '{new}' exists already; choose another name or delete it first.")
            now = utcnow()
            row.name = new
            row.config = {**row.config, "name": new}
            row.version += 1
            row.updated_at = now
            users = sorted(other for other, user in rows.items() if other != old and old in _references(user))
            for user in users:
                rows[user].config = _with_subgraph_renamed(rows[user], old, new)
                rows[user].version += 1
                rows[user].updated_at = now
            return users

    # --- helpers -----------------------------------------------------------------------------------

    @staticmethod
    async def _require(repo: GraphRepository, name: str) -> GraphRow:
        row = await repo.get(name)
        if row is None:
            raise _not_found(name)
        return row


async def _check_may_change(session: AsyncSession, row: GraphRow, editor: User | None) -> None:
    """Refuse (403) a change of ``row`` by ``editor`` unless it is the graph's owner or an admin."""
    if editor is None or editor.is_admin or (row.owner_id is not None and row.owner_id == editor.id):
        return
    owner = await UserRepository(session).get_by_id(row.owner_id) if row.owner_id else None
    if row.owner_id is None:
        whose = "has no owner (it was made in local mode or before graphs had owners), so only an admin may change it"
    elif owner is None:
        whose = "belongs to a user who was deleted, so only an admin may change it"
    else:
        whose = f"belongs to user '{owner.username}'; only its owner or an admin may change, rename or delete it"
    raise ForbiddenError(
        f"Graph '{row.name}' {whose}. Every user may read and run it; to change it, save a copy under another name."
    )


def _not_found(name: str) -> NotFoundError:
    return NotFoundError(f"Graph '{name}' does not exist. List the graphs with GET /graphs.")


def _stored(row: GraphRow, prompt_file_names: Iterable[str]) -> StoredGraph:
    return StoredGraph(
        name=row.name,
        config=copy.deepcopy(row.config),
        version=row.version,
        readme=row.readme,
        prompt_file_names=tuple(prompt_file_names),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _parse_stored(name: str, config: Mapping[str, Any]) -> GraphConfig:
    try:
        return GraphConfig.model_validate(dict(config))
    except ValidationError as exc:  # only if the schema changed in a way that rejects what was valid
        raise InvalidInputError(
            f"The stored graph '{name}' cannot be read ({exc.error_count()} problems); save it again."
        ) from None


def _references(row: GraphRow) -> set[str]:
    """The graphs the subgraph nodes of a stored graph refer to."""
    return _parse_stored(row.name, row.config).subgraph_names()


def _with_subgraph_renamed(row: GraphRow, old: str, new: str) -> dict[str, Any]:
    """The stored configuration with subgraph references to ``old`` changed to ``new``, otherwise as it was."""
    renamed = copy.deepcopy(row.config)
    for raw, node in zip(renamed["nodes"], _parse_stored(row.name, row.config).nodes, strict=True):
        if node.is_subgraph and node.subgraph_name == old:
            raw["subgraph_name"] = new
    return renamed
