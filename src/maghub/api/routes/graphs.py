"""Graph management (MAG reference "图管理API") and the JSON import/export the original web client uses
(reference §11), and ``generate_mcp`` (reference §9). The run engine (``/graphs/execute``) lives elsewhere.

Differences from the original, by design: graphs are returned as submitted plus ``version``; a save
answers ``version`` and ``warnings`` (unknown models, MCP servers, prompt files) and an invalid graph
is a 400 whose ``problems`` list every ``{node, field, message}``; deleting a graph another one uses
as a subgraph is a 409 unless ``?force=true``; a rename checks the new name and updates subgraph
references. Zip packages (``import_package*``, and what ``export`` writes) are read in memory, never
extracted, checked whole before anything is stored, and carry no secrets (see
:mod:`maghub.graphs.sharing.transfer`); ``GET /graphs/{name}/package`` downloads one.

In auth mode a graph belongs to the user who saved or imported it first: everyone may read and run
it, only its owner or an admin may replace, rename or delete it (403 otherwise).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
from fastapi import APIRouter, File, Request, Response, UploadFile
from pydantic import BaseModel, Field

from maghub.api.deps import RuntimeDep
from maghub.api.schemas.graphs import (
    GraphDeleted,
    GraphExported,
    GraphImported,
    GraphReadme,
    GraphRenamed,
    GraphSaved,
    GraphView,
    McpScript,
    PackageImported,
)
from maghub.api.security import AdminInAuthMode, GraphEditor, TokenUser, may_configure
from maghub.errors import InvalidInputError, NotFoundError
from maghub.graphs.definition.config import GraphDocument
from maghub.graphs.definition.documents import (
    attach_prompt_files,
    parse_document,
    parse_document_text,
    read_document_file,
)
from maghub.graphs.sharing.mcp_export import generate_mcp_script
from maghub.graphs.sharing.transfer import PackageImport
from maghub.graphs.sharing.packages import GraphPackage, read_package
from maghub.graphs.definition.registry import SaveResult
from maghub.graphs.definition.validation import GraphProblem
from maghub.service.runtime import Runtime

router = APIRouter(tags=["graphs"])

EXPORTS_FOLDER = "exports"
UploadedGraph = File(description="A graph .json file (the `graph` of `GET /graphs/{name}/export`)")
UploadedPackage = File(description="A graph package .zip (as `GET /graphs/{name}/package` downloads it)")


class ImportFromPath(BaseModel):
    file_path: str = Field(description="Absolute path of a file on the server's machine.")

    def absolute_path(self) -> Path:
        path = Path(self.file_path).expanduser()
        if not path.is_absolute():
            raise InvalidInputError(f"file_path must be an absolute path (got {self.file_path!r})")
        return path


def _problems(problems: Iterable[GraphProblem]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(problem) for problem in problems]


def _saved(result: SaveResult, message: str) -> dict[str, Any]:
    return {
        "status": "success",
        "message": message,
        "name": result.name,
        "version": result.version,
        "created": result.created,
        "warnings": _problems(result.warnings),
    }


def _imported(result: SaveResult, missing_prompt_files: Iterable[str] = ()) -> dict[str, Any]:
    body = _saved(result, f"图 '{result.name}' 导入成功")
    body["warnings"] += _problems(
        GraphProblem(
            None, "prompt_files", f"no file '{name}' next to the imported file; the placeholder stays as written"
        )
        for name in missing_prompt_files
    )
    # What the original's package import reported; JSON imports never add models or servers.
    return {**body, "needs_api_key": [], "skipped_models": [], "skipped_servers": []}


@router.get("/graphs", summary="List the graph names", response_model=list[str])
async def list_graphs(runtime: RuntimeDep) -> list[str]:
    return await runtime.graphs.names()


@router.get(
    "/graphs/{graph_name}",
    summary="A graph's configuration as submitted, plus its version",
    response_model=GraphView,
)
async def get_graph(graph_name: str, runtime: RuntimeDep) -> dict[str, Any]:
    return (await runtime.graphs.get(graph_name)).public_view()


@router.get(
    "/graphs/{graph_name}/readme",
    summary="A graph's README (written with it, or generated)",
    response_model=GraphReadme,
)
async def get_readme(graph_name: str, runtime: RuntimeDep) -> dict[str, Any]:
    graph, readme = await runtime.graphs.readme(graph_name)
    return {"name": graph.name, "config": graph.public_view(), "readme": readme}


@router.post(
    "/graphs",
    summary="Create or replace a graph; answers its version and any warnings",
    response_model=GraphSaved,
)
async def save_graph(document: GraphDocument, runtime: RuntimeDep, editor: GraphEditor) -> dict[str, Any]:
    result = await runtime.graphs.save(document, editor=editor)
    return _saved(result, f"图 '{result.name}' 保存成功")


@router.delete(
    "/graphs/{graph_name}",
    summary="Delete a graph (409 while another uses it, unless force)",
    response_model=GraphDeleted,
)
async def delete_graph(
    graph_name: str, runtime: RuntimeDep, editor: GraphEditor, force: bool = False
) -> dict[str, Any]:
    users = await runtime.graphs.delete(graph_name, force=force, editor=editor)
    return {"status": "success", "message": f"图 '{graph_name}' 删除成功", "still_referenced_by": users}


@router.put(
    "/graphs/{old_name}/rename/{new_name}",
    summary="Rename a graph; subgraph references follow",
    response_model=GraphRenamed,
)
async def rename_graph(old_name: str, new_name: str, runtime: RuntimeDep, editor: GraphEditor) -> dict[str, Any]:
    updated = await runtime.graphs.rename(old_name, new_name, editor=editor)
    return {
        "status": "success",
        "message": f"图 '{old_name}' 重命名为 '{new_name}' 成功",
        "updated_graphs": updated,
    }


@router.post(
    "/graphs/import",
    summary="Import a graph .json file from the server's disk (409 if the name exists)",
    dependencies=[AdminInAuthMode],
    response_model=GraphImported,
)
async def import_from_path(body: ImportFromPath, runtime: RuntimeDep, editor: GraphEditor) -> dict[str, Any]:
    path = body.absolute_path()

    def read() -> tuple[dict[str, Any], list[str]]:
        return attach_prompt_files(read_document_file(path, max_bytes=runtime.settings.max_body_bytes), path.parent)

    data, missing = await anyio.to_thread.run_sync(read)
    result = await runtime.graphs.save(parse_document(data), create_only=True, editor=editor)
    return _imported(result, missing)


@router.post(
    "/graphs/import_from_file",
    summary="Import an uploaded graph .json file (409 if the name exists)",
    response_model=GraphImported,
)
async def import_upload(runtime: RuntimeDep, editor: GraphEditor, file: UploadFile = UploadedGraph) -> dict[str, Any]:
    if not (file.filename or "").lower().endswith(".json"):
        raise InvalidInputError(f"'{file.filename}' is not a .json file; upload a graph exported as JSON")
    data = parse_document_text(await file.read(), file.filename or "the upload")
    result = await runtime.graphs.save(parse_document(data), create_only=True, editor=editor)
    return _imported(result)


@router.post(
    "/graphs/import_package",
    summary="Import a graph package (.zip) from the server's disk (409 if the graph's name exists)",
    dependencies=[AdminInAuthMode],
    response_model=PackageImported,
)
async def import_package_from_path(body: ImportFromPath, runtime: RuntimeDep, editor: GraphEditor) -> dict[str, Any]:
    path = body.absolute_path()
    if path.suffix.lower() != ".zip":
        raise InvalidInputError(f"{path} is not a .zip file; import a graph package exported as .zip")
    package = await anyio.to_thread.run_sync(_read_package_file, path, runtime.settings.max_body_bytes)
    return _imported_package(await runtime.packages.import_package(package, may_configure=True, editor=editor))


@router.post(
    "/graphs/import_package_from_file",
    summary="Import an uploaded graph package (.zip); adding its models and MCP servers needs an admin in auth mode",
    response_model=PackageImported,
)
async def import_package_upload(
    runtime: RuntimeDep, user: TokenUser, editor: GraphEditor, file: UploadFile = UploadedPackage
) -> dict[str, Any]:
    name = file.filename or "the upload"
    if not name.lower().endswith(".zip"):
        raise InvalidInputError(f"'{name}' is not a .zip file; upload a graph package exported as .zip")
    package = await anyio.to_thread.run_sync(_read_package, await file.read(), name, Path(name).stem)
    result = await runtime.packages.import_package(
        package, may_configure=may_configure(runtime, user), editor=editor
    )
    return _imported_package(result)


@router.get(
    "/graphs/{graph_name}/export",
    summary="Export a graph package (.zip, written to the data dir)",
    response_model=GraphExported,
)
async def export_graph(graph_name: str, runtime: RuntimeDep) -> dict[str, Any]:
    """``file_path`` is the package on the server's disk (as the original); ``GET /graphs/{name}/package``
    downloads the same package, and ``graph`` is the graph as one JSON document."""
    exported = await runtime.packages.export_package(graph_name)
    path = await anyio.to_thread.run_sync(_write_export, runtime, graph_name, exported.data)
    return {
        "status": "success",
        "message": f"图 '{graph_name}' 导出成功",
        "file_path": str(path),
        "graph": exported.document,
        "graphs": exported.graphs,
        "models": exported.models,
        "mcp_servers": exported.mcp_servers,
        "needs_secrets": exported.needs_secrets,
        "ai_mcp_tools": [],
    }


@router.get(
    "/graphs/{graph_name}/package",
    summary="Download a graph package (.zip): the graph, its subgraphs, prompt files, models and MCP servers",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
async def download_package(graph_name: str, runtime: RuntimeDep) -> Response:
    exported = await runtime.packages.export_package(graph_name)
    disposition = f"attachment; filename=\"graph.zip\"; filename*=UTF-8''{quote(graph_name, safe='')}.zip"
    return Response(exported.data, media_type="application/zip", headers={"Content-Disposition": disposition})


@router.get(
    "/graphs/{graph_name}/generate_mcp",
    summary="A standalone MCP server script (stdio) exposing the graph as one tool",
    response_model=McpScript,
)
async def generate_mcp(graph_name: str, request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    """``script`` (the seed's key), ``sequential_script`` and ``default_script`` (the original's keys)
    hold the same script: maghub runs a graph's independent nodes in parallel either way, and the tool
    only waits for the final result, so there is no sequential variant to tell apart. The script calls
    this maghub at the URL this request came to (env ``MAGHUB_URL`` overrides it)."""
    graph, readme = await runtime.graphs.readme(graph_name)
    description = graph.config.get("description")
    script = generate_mcp_script(
        graph.name, description if isinstance(description, str) else "", readme, str(request.base_url)
    )
    return {
        "graph_name": graph.name,
        "tool_name": script.tool_name,
        "maghub_url": script.maghub_url,
        "script": script.source,
        "sequential_script": script.source,
        "default_script": script.source,
    }


def _imported_package(result: PackageImport) -> dict[str, Any]:
    body = _imported(result.graph)
    body["warnings"] += [dataclasses.asdict(GraphProblem(None, "package", warning)) for warning in result.warnings]
    for saved in result.subgraphs:
        body["warnings"] += [{**problem, "graph": saved.name} for problem in _problems(saved.warnings)]
    return {
        **body,
        "imported_subgraphs": [saved.name for saved in result.subgraphs],
        "skipped_subgraphs": result.skipped_graphs,
        "added_models": result.added_models,
        "needs_api_key": result.needs_api_key,
        "skipped_models": result.skipped_models,
        "added_servers": result.added_servers,
        "skipped_servers": result.skipped_servers,
        "needs_secrets": result.needs_secrets,
        "imported_mcp_tools": [],
        "skipped_mcp_tools": result.skipped_mcp_tools,
    }


def _read_package_file(path: Path, max_bytes: int) -> GraphPackage:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InvalidInputError(
                f"{path} is {size} bytes; a package may be at most {max_bytes} bytes (MAGHUB_MAX_BODY_BYTES)"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"There is no file {path}; check the path") from None
    except OSError as exc:
        raise InvalidInputError(f"{path} cannot be read: {exc.strerror or exc}") from None
    return _read_package(data, str(path), path.stem)


def _read_package(data: bytes, source: str, default_name: str) -> GraphPackage:
    return read_package(data, source=source, default_name=default_name)


def _write_export(runtime: Runtime, name: str, data: bytes) -> Path:
    # Graph names cannot hold "/", "\" or ".", so the file stays in the exports folder.
    folder = runtime.settings.data_dir / EXPORTS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.zip"
    with tempfile.NamedTemporaryFile("wb", dir=folder, suffix=".tmp", delete=False) as handle:
        temporary = Path(handle.name)
        try:
            handle.write(data)
        except BaseException:
            handle.close()
            temporary.unlink(missing_ok=True)
            raise
    os.replace(temporary, target)  # readers never see a half-written export
    return target
