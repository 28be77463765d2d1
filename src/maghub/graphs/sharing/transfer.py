"""Importing and exporting graph packages (:mod:`maghub.graphs.sharing.packages`) against the registries.

Import, unlike the original's (reference §11): every part is checked before anything is stored
(the graphs validated together with the models and servers the package adds), so a bad package
changes nothing; graphs and subgraphs whose names exist are never overwritten; MCP servers and
models go through the same parsing as the API; AI-generated tool folders are not installed (code
from another machine), only reported. Export never writes a secret: whatever the secret classifier
(:mod:`maghub.security.classifier`) finds — API keys, extra header values, secret ``env`` values,
non-public headers, credentials in URLs and ``args`` — is blanked and listed in ``needs_secrets``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from maghub.auth.users import User

from maghub.errors import ForbiddenError, InvalidInputError, NotFoundError
from maghub.graphs.definition.documents import parse_document
from maghub.graphs.definition.registry import GraphRegistry, SaveResult
from maghub.graphs.sharing.packages import GraphPackage, PackageContents, write_package
from maghub.llm.config import ModelConfig
from maghub.llm.registry import ModelRegistry
from maghub.llm.secrets import shareable_model
from maghub.mcp.configuration.secrets import shareable_server
from maghub.mcp.configuration.server_config import ServerConfig, parse_mcp_servers, to_mag_entry
from maghub.mcp.registry import MCPRegistry


@dataclass
class PackageImport:
    graph: SaveResult
    subgraphs: list[SaveResult] = field(default_factory=list)
    skipped_graphs: list[str] = field(default_factory=list)
    added_models: list[str] = field(default_factory=list)
    needs_api_key: list[str] = field(default_factory=list)
    skipped_models: list[str] = field(default_factory=list)
    added_servers: list[str] = field(default_factory=list)
    skipped_servers: list[str] = field(default_factory=list)
    needs_secrets: list[str] = field(default_factory=list)
    skipped_mcp_tools: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class PackageExport:
    data: bytes
    document: dict[str, Any]
    """The graph as ``GET /graphs/{name}/export`` gives it in JSON (a written README only)."""
    graphs: list[str]
    models: list[str]
    mcp_servers: list[str]
    needs_secrets: list[str]


class GraphPackages:
    def __init__(self, graphs: GraphRegistry, models: ModelRegistry, mcp: MCPRegistry) -> None:
        self._graphs = graphs
        self._models = models
        self._mcp = mcp

    async def import_package(
        self, package: GraphPackage, *, may_configure: bool, editor: User | None = None
    ) -> PackageImport:
        """Store ``package``. ``may_configure``: the caller may add models and MCP servers (in auth mode,
        admins only); a package that would add some is refused otherwise, before anything is stored.
        The graphs it creates belong to ``editor`` (the importer, in auth mode)."""
        models = _parse_models(package.models)
        # A package's servers are commands and addresses from elsewhere: they are added disabled,
        # so that nothing starts before someone has looked at them.
        servers = [
            server.model_copy(update={"enabled": False})
            for server in parse_mcp_servers({"mcpServers": package.mcp_servers})
        ]
        existing_models = await self._models.names()
        existing_servers = {server.name for server in await self._mcp.configs()}
        new_models = [model for model in models if model.name not in existing_models]
        new_servers = [server for server in servers if server.name not in existing_servers]
        if (new_models or new_servers) and not may_configure:
            raise ForbiddenError(_needs_admin(new_models, new_servers))

        existing_graphs = set(await self._graphs.names())
        skipped_graphs = [sub.name for sub in package.subgraphs if sub.name in existing_graphs]
        pending = [package.graph, *(sub for sub in package.subgraphs if sub.name not in existing_graphs)]
        documents = {item.name: parse_document(item.document) for item in pending}
        await self._graphs.check_new(
            documents.values(),
            models_added=[model.name for model in new_models],
            servers_added=[server.name for server in new_servers],
        )

        needs_api_key = []
        for model in new_models:
            await self._models.create(model)
            if not model.api_key.strip():
                needs_api_key.append(model.name)
        added_servers = (await self._mcp.add(new_servers)).added if new_servers else []
        saved = {
            name: await self._graphs.save(documents[name], create_only=True, editor=editor)
            for name in _dependencies_first(documents)
        }
        warnings = list(package.warnings)
        if added_servers:
            warnings.append(
                f"MCP servers added disabled: {', '.join(added_servers)}. Check what each one runs, then enable "
                'it ("disabled": false in POST /mcp/config).'
            )
        if package.tool_folders:
            warnings.append(
                "AI-generated MCP tools are not installed from packages (code from another machine): "
                f"{', '.join(package.tool_folders)}."
            )
        return PackageImport(
            graph=saved.pop(package.graph.name),
            subgraphs=list(saved.values()),
            skipped_graphs=skipped_graphs,
            added_models=[model.name for model in new_models],
            needs_api_key=needs_api_key,
            skipped_models=[model.name for model in models if model.name in existing_models],
            added_servers=added_servers,
            skipped_servers=[server.name for server in servers if server.name not in added_servers],
            needs_secrets=[
                blank for server in new_servers if server.name in added_servers for blank in _blank_secrets(server)
            ],
            skipped_mcp_tools=package.tool_folders,
            warnings=warnings,
        )

    async def export_package(self, name: str) -> PackageExport:
        """The package of ``name``, with every graph it uses as a subgraph, and the models and MCP servers
        they name (those configured here)."""
        names = [name, *await self._graphs.subgraph_closure(name)]
        exported, documents, written, model_names, server_names = [], [], [], set(), set()
        for graph_name in names:
            stored, readme = await self._graphs.readme(graph_name)
            document = await self._graphs.export_document(graph_name)
            exported.append(document)
            if stored.readme is not None:
                written.append(graph_name)
            documents.append({**document, "readme": readme})
            config = stored.parsed()
            model_names |= config.model_names()
            server_names |= config.mcp_server_names()

        needs_secrets: list[str] = []
        models = []
        for model_name in sorted(model_names):
            try:
                model = await self._models.get_config(model_name)
            except NotFoundError:
                continue
            models.append(_shareable_model(model, needs_secrets))
        servers = {}
        for server_name in sorted(server_names):
            try:
                server = await self._mcp.get(server_name)
            except NotFoundError:
                continue
            servers[server_name] = _shareable_server(server, needs_secrets)
        data = write_package(
            PackageContents(
                graph=documents[0], subgraphs=documents[1:], mcp_servers=servers, models=models, readme_written=written
            )
        )
        return PackageExport(
            data, exported[0], names, [model["name"] for model in models], list(servers), needs_secrets
        )


def _parse_models(entries: Sequence[Any]) -> list[ModelConfig]:
    models = []
    for index, entry in enumerate(entries):
        label = entry.get("name") if isinstance(entry, dict) and isinstance(entry.get("name"), str) else f"#{index + 1}"
        try:
            models.append(ModelConfig.model_validate(entry))
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(map(str, error['loc'])) or 'model'}: {error['msg']}" for error in exc.errors()
            )
            raise InvalidInputError(f"attachment/model.json: model {label} is invalid ({details})") from None
    names = [model.name for model in models]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidInputError(f"attachment/model.json names {', '.join(map(repr, repeated))} more than once")
    return models


def _needs_admin(models: Sequence[ModelConfig], servers: Sequence[ServerConfig]) -> str:
    parts = []
    if models:
        parts.append(f"models ({', '.join(model.name for model in models)})")
    if servers:
        parts.append(f"MCP servers ({', '.join(server.name for server in servers)})")
    return (
        f"This package adds {' and '.join(parts)}, which only an admin may configure. Ask an admin to import "
        "it, or have them configure those first (the package's copies are then skipped)."
    )


def _dependencies_first(documents: dict[str, Any]) -> list[str]:
    """The names of ``documents`` ordered so that each comes after the pending graphs it uses."""
    ordered: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in ordered or name in path:  # a cycle was refused by validation already
            return
        for used in sorted(documents[name].subgraph_names()):
            if used in documents:
                visit(used, (*path, name))
        ordered.append(name)

    for name in documents:
        visit(name, ())
    return ordered


# --- what an export may hold: every secret blanked (maghub.security.classifier) --------------------------


def _shareable_model(model: ModelConfig, needs_secrets: list[str]) -> dict[str, Any]:
    entry, blanks = shareable_model(model)
    needs_secrets += [f"model '{model.name}': {blank}" for blank in blanks]
    return entry


def _shareable_server(server: ServerConfig, needs_secrets: list[str]) -> dict[str, Any]:
    shareable, blanks = shareable_server(server)
    needs_secrets += [f"MCP server '{server.name}': {blank}" for blank in blanks]
    return to_mag_entry(shareable)


def _blank_secrets(server: ServerConfig) -> list[str]:
    label = f"MCP server '{server.name}'"
    blanks = [f"{label}: env.{key}" for key, value in server.env.items() if not value]
    return blanks + [f"{label}: headers.{key}" for key, value in server.headers.items() if not value]
