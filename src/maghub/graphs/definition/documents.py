"""Graph documents as files and as untrusted JSON: reading one, turning schema errors into problems,
and gathering the prompt files its placeholders name from the folder it came from.

Used by the CLI (on the user's own files) and by the server's import from a server path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from maghub.errors import InvalidInputError, NotFoundError
from maghub.graphs.definition.config import GraphDocument, prompt_file_name_problem, prompt_file_placeholders
from maghub.graphs.definition.validation import GraphProblem, GraphValidationError
from maghub.storable import check_storable

MAX_DOCUMENT_BYTES = 8 * 1024 * 1024
PROMPTS_FOLDER = "prompts"


def read_document_file(path: Path, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> dict[str, Any]:
    """The JSON object in ``path`` (blocking: call it in a worker thread from async code)."""
    if path.suffix.lower() != ".json":
        raise InvalidInputError(f"{path} is not a .json file; export a graph as JSON and import that file")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InvalidInputError(f"{path} is {size} bytes; a graph file may be at most {max_bytes} bytes")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"There is no file {path}; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_document_text(text, str(path))


def parse_document_text(text: str | bytes, source: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidInputError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f'{source} must hold a JSON object like {{"name": "...", "nodes": [...]}}')
    check_storable(data, source)
    return data


def parse_document(data: Mapping[str, Any]) -> GraphDocument:
    """``data`` as a graph document; schema errors become a :class:`GraphValidationError` listing them."""
    try:
        return GraphDocument.model_validate(dict(data))
    except ValidationError as exc:
        name = data.get("name") if isinstance(data.get("name"), str) else "(unnamed)"
        raise GraphValidationError(str(name), schema_problems(exc, data)) from None


def schema_problems(error: ValidationError, data: Mapping[str, Any]) -> list[GraphProblem]:
    """pydantic's errors as ``{node, field, message}`` problems (``nodes.2.handoffs`` → node, ``handoffs``)."""
    listed = data.get("nodes")
    nodes: list[Any] = listed if isinstance(listed, list) else []
    problems = []
    for item in error.errors():
        location = list(item.get("loc", ()))
        node = None
        if len(location) >= 2 and location[0] == "nodes" and isinstance(location[1], int):
            index = location[1]
            raw = nodes[index] if index < len(nodes) else None
            name = raw.get("name") if isinstance(raw, dict) else None
            node = name if isinstance(name, str) and name.strip() else f"#{index + 1}"
            location = location[2:]
        field = ".".join(str(part) for part in location) or ("node" if node else "graph")
        problems.append(GraphProblem(node, field, str(item.get("msg", "invalid value"))))
    return problems


def attach_prompt_files(data: dict[str, Any], folder: Path) -> tuple[dict[str, Any], list[str]]:
    """``data`` with the prompt files its placeholders name, read from ``folder`` or ``folder/prompts``,
    added to ``prompt_files`` (files it carries already win); and the names found in neither place.

    Only plain file names are looked up, so nothing outside those two folders is ever read (the
    original copied any path written in braces, e.g. ``{/etc/passwd}``). Blocking.
    """
    carried = data.get("prompt_files")
    files: dict[str, str] = dict(carried) if isinstance(carried, dict) else {}
    missing = []
    root = folder.resolve()
    for file_name in _placeholders_of(data.get("nodes")):
        if file_name in files or prompt_file_name_problem(file_name):
            continue
        for candidate in (folder / file_name, folder / PROMPTS_FOLDER / file_name):
            # A symbolic link out of the folder is not one of its files.
            if candidate.is_file() and candidate.resolve().is_relative_to(root):
                files[file_name] = candidate.read_text(encoding="utf-8")
                check_storable(files[file_name], str(candidate))
                break
        else:
            missing.append(file_name)
    if files:
        data = {**data, "prompt_files": files}
    return data, missing


def _placeholders_of(nodes: object) -> list[str]:
    names: list[str] = []
    for node in nodes if isinstance(nodes, Sequence) else ():
        if isinstance(node, Mapping):
            for key in ("system_prompt", "user_prompt"):
                if isinstance(node.get(key), str):
                    names += prompt_file_placeholders(node[key])
    return list(dict.fromkeys(names))
