"""Graph packages: the zip files the original MAG exported and imported (reference §11), read safely.

Layout (the original's, plus ``subgraphs/`` and ``manifest.json``, which it ignored)::

    config.json               the graph as submitted
    readme.md                 its README
    prompts/<file>            its prompt files
    attachment/mcp.json       {"mcpServers": {...}}: the MCP servers it uses, secrets blanked
    attachment/model.json     {"models": [...]}: the models it uses, API keys blanked
    subgraphs/<name>/...      each graph used as a subgraph, with the same layout (maghub only)
    mcp/<tool>/...            AI-generated MCP tools (original only; never installed from a package)
    manifest.json             {"maghub_package": 1, "readme_written": [...]} (maghub only)

Nothing in a package is ever extracted to disk: the few entries that matter are read in memory,
with limits on their number and size, and a package that names an absolute path or a ``..``
segment is refused (SPEC §9). Blocking: call from a worker thread in async code.
"""

from __future__ import annotations

import io
import json
import posixpath
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from maghub.errors import InvalidInputError
from maghub.graphs.definition.config import DOCUMENT_KEYS, name_problem, prompt_file_name_problem
from maghub.storable import check_storable

CONFIG = "config.json"
README = "readme.md"
PROMPTS = "prompts/"
MCP_ATTACHMENT = "attachment/mcp.json"
MODEL_ATTACHMENT = "attachment/model.json"
SUBGRAPHS = "subgraphs/"
TOOLS = "mcp/"
MANIFEST = "manifest.json"
FORMAT_VERSION = 1

MAX_ENTRIES = 5000
MAX_ENTRY_BYTES = 8 * 1024 * 1024
MAX_READ_BYTES = 32 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024
_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


@dataclass
class PackagedGraph:
    """One graph of a package: the document ``POST /graphs`` takes (readme and prompt files included)."""

    name: str
    document: dict[str, Any]


@dataclass
class GraphPackage:
    graph: PackagedGraph
    subgraphs: list[PackagedGraph] = field(default_factory=list)
    mcp_servers: dict[str, Any] = field(default_factory=dict)  # the raw mcpServers entries
    models: list[Any] = field(default_factory=list)  # the raw model entries
    tool_folders: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_package(data: bytes, *, source: str, default_name: str) -> GraphPackage:
    """The package in ``data`` (``source`` names it in messages; ``default_name`` is the graph's name
    when its ``config.json`` has none, as in the original: the zip file's stem)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        raise InvalidInputError(f"{source} is not a zip file; export a graph package and import that") from None
    with archive:
        return _Reader(archive, source).package(default_name)


class _Reader:
    def __init__(self, archive: zipfile.ZipFile, source: str) -> None:
        self._source = source
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise InvalidInputError(
                f"{source} has {len(infos)} entries; a graph package may have at most {MAX_ENTRIES}"
            )
        unsafe = [info.filename for info in infos if _unsafe_name(info.filename)]
        if unsafe:
            shown = ", ".join(repr(name) for name in unsafe[:5])
            raise InvalidInputError(
                f"{source} names paths outside the package ({shown}); entries must be relative paths without '..'"
            )
        self._archive = archive
        self._entries = {info.filename: info for info in infos if not info.is_dir()}
        self._root = self._find_root()
        self._read_bytes = 0

    def package(self, default_name: str) -> GraphPackage:
        manifest = self._json(self._root + MANIFEST, required=False)
        written = manifest.get("readme_written") if isinstance(manifest, dict) else None
        readme_written = {name for name in written if isinstance(name, str)} if isinstance(written, list) else None
        warnings: list[str] = []
        graph = self._graph(self._root, default_name, readme_written, warnings)
        subgraphs = [
            self._graph(f"{self._root}{SUBGRAPHS}{name}/", name, readme_written, warnings)
            for name in self._folders(SUBGRAPHS)
        ]
        names = [graph.name, *(subgraph.name for subgraph in subgraphs)]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise InvalidInputError(
                f"{self._source} holds more than one graph named {', '.join(map(repr, repeated))}; "
                "each graph of a package needs its own name"
            )
        return GraphPackage(
            graph=graph,
            subgraphs=subgraphs,
            mcp_servers=self._mcp_servers(),
            models=self._models(),
            tool_folders=self._folders(TOOLS),
            warnings=warnings,
        )

    # --- the parts ---------------------------------------------------------------------------------

    def _graph(
        self, folder: str, default_name: str, readme_written: set[str] | None, warnings: list[str]
    ) -> PackagedGraph:
        where = folder or "the package's top level"
        config = self._json(folder + CONFIG, required=True)
        if not isinstance(config, dict):
            raise InvalidInputError(
                f'{self._source}: {folder}{CONFIG} must hold a JSON object like {{"name": ..., "nodes": [...]}}'
            )
        document = {key: value for key, value in config.items() if key not in DOCUMENT_KEYS}
        document.setdefault("name", default_name)
        name = document["name"]
        if not isinstance(name, str) or name_problem(name):
            raise InvalidInputError(f"{self._source}: the graph in {where} has no usable name ({name!r})")
        readme = self._text(folder + README)
        # A README the exporter generated is not kept: this server generates its own, kept up to date.
        if readme is not None and (readme_written is None or name in readme_written):
            document["readme"] = readme
        files = {}
        for entry in self._files_in(folder + PROMPTS):
            file_name = entry[len(folder + PROMPTS) :]
            problem = prompt_file_name_problem(file_name)
            text = None if problem else self._text(entry)
            if text is None:
                warnings.append(f"{entry} skipped: {problem or 'not UTF-8 text'}")
                continue
            files[file_name] = text
        if files:
            document["prompt_files"] = files
        return PackagedGraph(name, document)

    def _mcp_servers(self) -> dict[str, Any]:
        attachment = self._json(self._root + MCP_ATTACHMENT, required=False)
        if attachment is None:
            return {}
        servers = attachment.get("mcpServers") if isinstance(attachment, dict) else None
        if not isinstance(servers, dict):
            raise InvalidInputError(f'{self._source}: {MCP_ATTACHMENT} must hold {{"mcpServers": {{name: config}}}}')
        return servers

    def _models(self) -> list[Any]:
        attachment = self._json(self._root + MODEL_ATTACHMENT, required=False)
        if attachment is None:
            return []
        models = attachment.get("models") if isinstance(attachment, dict) else None
        if not isinstance(models, list):
            raise InvalidInputError(f'{self._source}: {MODEL_ATTACHMENT} must hold {{"models": [...]}}')
        return models

    # --- entries -----------------------------------------------------------------------------------

    def _find_root(self) -> str:
        """ "" when config.json is at the top; "folder/" when everything sits in one folder (a zipped folder)."""
        if CONFIG in self._entries:
            return ""
        tops = {name.split("/", 1)[0] for name in self._entries}
        if len(tops) == 1 and f"{next(iter(tops))}/{CONFIG}" in self._entries:
            return f"{next(iter(tops))}/"
        raise InvalidInputError(f"{self._source} has no {CONFIG}; a graph package holds the graph in {CONFIG}")

    def _files_in(self, folder: str) -> list[str]:
        return sorted(name for name in self._entries if name.startswith(folder) and "/" not in name[len(folder) :])

    def _folders(self, folder: str) -> list[str]:
        prefix = self._root + folder
        names = {name[len(prefix) :].split("/", 1)[0] for name in self._entries if name.startswith(prefix)}
        return sorted(name for name in names if name)

    def _bytes(self, name: str) -> bytes | None:
        """The entry's bytes, unpacked in chunks and cut off at the limits: the sizes an archive
        declares are not trusted (a few kilobytes can claim ten bytes and unpack to gigabytes)."""
        info = self._entries.get(name)
        if info is None:
            return None
        if info.compress_type not in _COMPRESSIONS:
            raise InvalidInputError(
                f"{self._source}: {name} is compressed with method {info.compress_type}; "
                "packages use deflate (or no compression), as zip tools write by default"
            )
        limit = min(MAX_ENTRY_BYTES, MAX_READ_BYTES - self._read_bytes)
        data = bytearray()
        try:
            with self._archive.open(info) as entry:
                while chunk := entry.read(_CHUNK_BYTES):
                    data += chunk
                    if len(data) > limit:
                        raise InvalidInputError(
                            f"{self._source}: {name} is too large unpacked; a package entry may be at most "
                            f"{MAX_ENTRY_BYTES} bytes, and all that is read of a package {MAX_READ_BYTES} bytes"
                        )
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as exc:
            raise InvalidInputError(f"{self._source}: {name} cannot be unpacked ({exc})") from None
        self._read_bytes += len(data)
        return bytes(data)

    def _text(self, name: str) -> str | None:
        data = self._bytes(name)
        if data is None:
            return None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return None
        check_storable(text, f"{self._source}: {name}")
        return text

    def _json(self, name: str, *, required: bool) -> Any:
        data = self._bytes(name)
        if data is None:
            if required:
                raise InvalidInputError(f"{self._source} has no {name}")
            return None
        try:
            parsed = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidInputError(f"{self._source}: {name} is not valid JSON: {exc}") from None
        check_storable(parsed, f"{self._source}: {name}")
        return parsed


def _unsafe_name(name: str) -> bool:
    """An entry that names an absolute path or leaves its folder (zip slip)."""
    if name.startswith(("/", "\\")) or "\\" in name or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in posixpath.normpath(name).split("/") or ".." in name.split("/")


# --- writing -----------------------------------------------------------------------------------------


@dataclass
class PackageContents:
    graph: Mapping[str, Any]  # an export document: the configuration with readme and prompt_files
    subgraphs: Iterable[Mapping[str, Any]] = ()
    mcp_servers: Mapping[str, Any] = field(default_factory=dict)
    models: Iterable[Mapping[str, Any]] = ()
    readme_written: Iterable[str] = ()


def write_package(contents: PackageContents) -> bytes:
    """The zip of ``contents`` (every document needs its ``readme``: written or generated)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _write_graph(archive, "", contents.graph)
        for subgraph in contents.subgraphs:
            _write_graph(archive, f"{SUBGRAPHS}{subgraph['name']}/", subgraph)
        if contents.mcp_servers:
            _write_json(archive, MCP_ATTACHMENT, {"mcpServers": dict(contents.mcp_servers)})
        models = list(contents.models)
        if models:
            _write_json(archive, MODEL_ATTACHMENT, {"models": models})
        _write_json(
            archive, MANIFEST, {"maghub_package": FORMAT_VERSION, "readme_written": list(contents.readme_written)}
        )
    return buffer.getvalue()


def _write_graph(archive: zipfile.ZipFile, folder: str, document: Mapping[str, Any]) -> None:
    config = {key: value for key, value in document.items() if key not in DOCUMENT_KEYS}
    _write_json(archive, folder + CONFIG, config)
    archive.writestr(folder + README, str(document.get("readme") or ""))
    for file_name, text in sorted((document.get("prompt_files") or {}).items()):
        archive.writestr(f"{folder}{PROMPTS}{file_name}", text)


def _write_json(archive: zipfile.ZipFile, name: str, value: Any) -> None:
    archive.writestr(name, json.dumps(value, ensure_ascii=False, indent=2) + "\n")
