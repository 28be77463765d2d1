"""The state of a design, assembled from a conversation's replies (the ``parsed_results`` that the
original web client shows), and what the finish command needs from it.

Edits are applied in reply order. Whatever a reply gets wrong in form (a ``<node>`` that is not a
JSON object, a script file name that is not a plain name) is not applied and comes back as a
problem, so the stream can report it instead of skipping it silently.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from maghub.errors import InvalidInputError
from maghub.generation.tags import GRAPH_TEXT_FIELDS, TOOL_TEXT_FIELDS, Edit, strip_fence
from maghub.tools.dependencies import parse_dependencies
from maghub.tools.names import validate_script_file_name

MAIN_SCRIPT = "main.py"


@dataclass
class GraphDesign:
    analysis: str = ""
    todo: str = ""
    graph_name: str = ""
    graph_description: str = ""
    nodes: list[dict[str, Any]] = field(default_factory=list)
    end_template: str = ""
    other_fields: dict[str, Any] = field(default_factory=dict)
    """Graph settings beyond the tags (``max_parallel_nodes``…) of a graph being improved: kept as they were."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> GraphDesign:
        data = data or {}
        design = cls(
            nodes=[dict(node) for node in data.get("nodes") or [] if isinstance(node, Mapping)],
            other_fields=dict(data.get("other_fields") or {}),
        )
        for name in GRAPH_TEXT_FIELDS:
            setattr(design, name, str(data.get(name) or ""))
        return design

    @classmethod
    def from_graph(cls, config: Mapping[str, Any]) -> GraphDesign:
        """The design of an existing graph (the start of an improvement)."""
        return cls(
            graph_name=str(config.get("name") or ""),
            graph_description=str(config.get("description") or ""),
            nodes=copy.deepcopy([dict(node) for node in config.get("nodes") or []]),
            end_template=str(config.get("end_template") or ""),
            other_fields={
                key: copy.deepcopy(value)
                for key, value in config.items()
                if key not in ("name", "description", "nodes", "end_template")
            },
        )

    def to_dict(self) -> dict[str, Any]:
        parsed: dict[str, Any] = {
            "analysis": self.analysis,
            "todo": self.todo,
            "graph_name": self.graph_name,
            "graph_description": self.graph_description,
            "nodes": copy.deepcopy(self.nodes),
            "end_template": self.end_template,
        }
        if self.other_fields:
            parsed["other_fields"] = copy.deepcopy(self.other_fields)
        return parsed

    def apply(self, edits: list[Edit]) -> list[str]:
        problems = []
        for edit in edits:
            if edit.kind == "node":
                problem = self._upsert(edit.text)
                if problem:
                    problems.append(problem)
            elif edit.kind == "delete_node":
                self.nodes = [node for node in self.nodes if node.get("name") != edit.text]
            elif edit.text or edit.kind == "end_template":
                setattr(self, edit.kind, edit.text)
        return problems

    def _upsert(self, text: str) -> str | None:
        try:
            node = json.loads(strip_fence(text))
        except ValueError as exc:
            return f"a <node> is not valid JSON ({exc}); it was not applied: {_excerpt(text)}"
        if not isinstance(node, dict):
            return f"a <node> must hold one JSON object; it was not applied: {_excerpt(text)}"
        name = node.get("name")
        if not isinstance(name, str) or not name.strip():
            return f'a <node> has no "name"; it was not applied: {_excerpt(text)}'
        for index, existing in enumerate(self.nodes):
            if existing.get("name") == name:
                self.nodes[index] = node
                return None
        self.nodes.append(node)
        return None

    def missing_fields(self) -> list[str]:
        missing = [name for name in ("graph_name", "graph_description") if not getattr(self, name).strip()]
        if not self.nodes:
            missing.append("nodes")
        return missing

    def document(self) -> dict[str, Any]:
        """The graph the design describes, as ``POST /graphs`` takes it."""
        return {
            **copy.deepcopy(self.other_fields),
            "name": self.graph_name,
            "description": self.graph_description,
            "nodes": copy.deepcopy(self.nodes),
            "end_template": self.end_template,
        }


@dataclass
class ToolDraft:
    analysis: str = ""
    todo: str = ""
    folder_name: str = ""
    script_files: dict[str, str] = field(default_factory=dict)
    dependencies: str = ""
    readme: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ToolDraft:
        data = data or {}
        files = data.get("script_files") or {}
        draft = cls(script_files={str(name): str(code) for name, code in files.items()})
        for name in TOOL_TEXT_FIELDS:
            setattr(draft, name, str(data.get(name) or ""))
        return draft

    def to_dict(self) -> dict[str, Any]:
        return {
            "analysis": self.analysis,
            "todo": self.todo,
            "folder_name": self.folder_name,
            "script_files": dict(self.script_files),
            "dependencies": self.dependencies,
            "readme": self.readme,
        }

    def apply(self, edits: list[Edit]) -> list[str]:
        problems = []
        for edit in edits:
            if edit.kind == "script_file":
                try:
                    name = validate_script_file_name(edit.name)
                except InvalidInputError as exc:
                    problems.append(f'<script_file name="{_excerpt(edit.name, 80)}"> was not applied: {exc}')
                    continue
                if edit.text:
                    self.script_files[name] = edit.text
                else:
                    problems.append(f'<script_file name="{name}"> is empty; it was not applied')
            elif edit.kind == "delete_script_file":
                self.script_files.pop(edit.text, None)
            elif edit.kind == "dependencies":
                self.dependencies = edit.text  # may be emptied on purpose
            elif edit.text:
                setattr(self, edit.kind, edit.text)
        return problems

    def missing_fields(self) -> list[str]:
        missing = [name for name in ("folder_name",) if not getattr(self, name).strip()]
        if MAIN_SCRIPT not in self.script_files:
            missing.append(f"script_files[{MAIN_SCRIPT}]")
        if not self.readme.strip():
            missing.append("readme")
        return missing

    def requirements(self) -> list[str]:
        """The pip requirements (white space separates them; ``none`` means none)."""
        return [r for r in parse_dependencies(self.dependencies) if r.lower().strip("`") not in ("none", "-", "无")]


def _excerpt(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"
