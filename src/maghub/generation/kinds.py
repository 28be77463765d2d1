"""The two kinds of generation: graphs (``POST /graphs/generate``) and MCP tools (``POST /mcp/generate``).

Each says how a session starts (its prompt), how a reply changes the design, and what the finish
command does: check everything at once, then save the graph or register the tool — or answer
``incomplete`` with every missing field and every problem, storing nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from maghub.errors import ConflictError, InvalidInputError, MaghubError
from maghub.generation.designs import GraphDesign, ToolDraft
from maghub.generation.prompts import (
    REQUIREMENT_IN_MESSAGES,
    Catalog,
    catalog_from,
    graph_design_prompt,
)
from maghub.generation.sessions import (
    FinishOutcome,
    GenerationCompleted,
    GenerationFailed,
    GenerationIncomplete,
    GenerationRequest,
)
from maghub.generation.store import SessionState, StoredSession
from maghub.generation.tags import GRAPH_EDITS, TOOL_EDITS, read_edits
from maghub.graphs.definition.config import GraphDocument
from maghub.graphs.definition.validation import Catalog as GraphCatalog
from maghub.graphs.definition.validation import GraphProblem, GraphValidationError, validate_document
from maghub.tools.names import validate_tool_name
from maghub.tools.registry import ToolDesign
from maghub.tools.template import generator_template

if TYPE_CHECKING:
    from maghub.graphs.definition.registry import GraphRegistry
    from maghub.llm.registry import ModelRegistry
    from maghub.mcp.connections.manager import MCPManager
    from maghub.tools.registry import AIToolRegistry

# Unknown models and MCP servers are only warnings when a graph is saved by hand; a generated graph
# must be able to run, so they are problems here (SPEC §11).
_MUST_EXIST = frozenset({"model_name", "mcp_servers"})


def _problem(node: str | None, field_name: str, message: str) -> dict[str, Any]:
    return {"node": node, "field": field_name, "message": message}


def _problem_views(problems: Iterable[GraphProblem]) -> list[dict[str, Any]]:
    return [_problem(problem.node, problem.field, problem.message) for problem in problems]


def incomplete(what: str, missing: list[str], problems: list[dict[str, Any]]) -> GenerationIncomplete:
    parts = []
    if missing:
        parts.append("missing: " + ", ".join(missing))
    if problems:
        parts.append(f"{len(problems)} problem(s): " + "; ".join(_problem_text(p) for p in problems))
    return GenerationIncomplete(f"{what} is not complete yet ({'; '.join(parts)}).", missing, problems)


def _problem_text(problem: Mapping[str, Any]) -> str:
    where = f"node '{problem['node']}', {problem['field']}" if problem.get("node") else problem["field"]
    return f"{where}: {problem['message']}"


def _already_done(state: SessionState, parsed: dict[str, Any]) -> dict[str, Any] | None:
    """What an earlier finish command answered, if it saved this very design."""
    return state.completion if state.finished_design == parsed and state.completion else None


async def _catalog(models: ModelRegistry, mcp: MCPManager) -> Catalog:
    return catalog_from(await models.list_masked(), mcp.status().values())


class GraphGeneration:
    generation_type = "graph"
    id_prefix = "gen_"
    default_title = "AI图生成"

    def __init__(self, graphs: GraphRegistry, models: ModelRegistry, mcp: MCPManager) -> None:
        self._graphs = graphs
        self._models = models
        self._mcp = mcp

    async def check(self, request: GenerationRequest, stored: StoredSession | None) -> None:
        name = request.graph_name
        if not name:
            return
        if stored is not None:
            target = stored.state.target_graph
            if target != name:
                raise ConflictError(
                    f"Conversation '{request.conversation_id}' "
                    + (f"improves graph '{target}'" if target else "designs a new graph")
                    + f", not '{name}'; leave graph_name out to continue it, or start a new conversation."
                )
            return
        await self._graphs.get(name)  # 404 for an unknown graph

    async def start_session(self, request: GenerationRequest) -> tuple[str, SessionState]:
        catalog = await _catalog(self._models, self._mcp)
        if request.graph_name:
            graph = await self._graphs.get(request.graph_name)
            prompt = graph_design_prompt(catalog, graph.config, REQUIREMENT_IN_MESSAGES)
            design = GraphDesign.from_graph(graph.config).to_dict()
            return prompt, SessionState(self.generation_type, design, target_graph=graph.name)
        return graph_design_prompt(catalog), SessionState(self.generation_type, GraphDesign().to_dict())

    def apply_reply(self, state: SessionState, reply: str) -> tuple[dict[str, Any], list[str]]:
        design = GraphDesign.from_dict(state.parsed_results)
        problems = design.apply(read_edits(reply, GRAPH_EDITS))
        return design.to_dict(), problems

    async def finish(self, state: SessionState, request: GenerationRequest) -> FinishOutcome:
        design = GraphDesign.from_dict(state.parsed_results)
        parsed = design.to_dict()
        existing = await self._graphs.names()
        # The graph this session writes: the one it improves, or the one an earlier finish created
        # (unless that was deleted since: then it is new again).
        target = state.target_graph or (state.created_graph if state.created_graph in existing else None)
        done = _already_done(state, parsed)
        if done is not None and done["graph_name"] in existing:
            return FinishOutcome(GenerationCompleted({**done, "already_saved": True}))
        missing = design.missing_fields()
        problems: list[dict[str, Any]] = []
        if target and design.graph_name and design.graph_name != target:
            problems.append(
                _problem(
                    None,
                    "graph_name",
                    f"this conversation saves graph '{target}'; keep <graph_name>{target}</graph_name> "
                    f"(rename the graph afterwards with PUT /graphs/{target}/rename/<new name>)",
                )
            )
        document = self._document(design, problems)
        if document is not None:
            problems += self._beyond_missing(await self.review(document), missing)
        if document is not None and not target and design.graph_name in existing:
            problems.append(
                _problem(
                    None,
                    "graph_name",
                    f"a graph named '{design.graph_name}' exists already and a new design never replaces it; "
                    "choose another <graph_name>",
                )
            )
        if missing or problems or document is None:
            return self._refused(missing, problems)
        try:
            if target:
                await self._graphs.get(target)  # improving a graph that was deleted meanwhile: refuse
            result = await self._graphs.save(document, create_only=not target, editor=request.editor)
        except GraphValidationError as exc:
            return self._refused([], _problem_views(exc.problems))
        except MaghubError as exc:  # taken meanwhile, deleted meanwhile, not the caller's to change
            return self._refused([], [_problem(None, "graph_name", str(exc))])
        completion = {
            "graph_name": result.name,
            "message": f"图 '{result.name}' 生成完成！",
            "version": result.version,
            "created": result.created,
            "warnings": _problem_views(result.warnings),
        }
        changes: dict[str, Any] = {
            "completion": completion,
            "finished_design": parsed,
            "final_graph_config": document.submitted(),
            "last_finish": {"status": "completed", **completion},
        }
        if result.created:
            changes["created_graph"] = result.name
        return FinishOutcome(GenerationCompleted(completion), changes)

    def _document(self, design: GraphDesign, problems: list[dict[str, Any]]) -> GraphDocument | None:
        """The design as a graph document, with every problem a save would report and more (models
        and MCP servers must exist) added to ``problems``; None when it cannot be read as a graph."""
        try:
            document = GraphDocument.model_validate(design.document())
        except ValidationError as exc:
            for error in exc.errors():
                location = [str(part) for part in error["loc"]]
                node = None
                if len(location) >= 2 and location[0] == "nodes" and location[1].isdigit():
                    raw = design.nodes[int(location[1])]
                    node = str(raw.get("name") or f"#{int(location[1]) + 1}")
                    location = location[2:]
                problems.append(_problem(node, ".".join(location) or "graph", error["msg"]))
            return None
        return document

    @staticmethod
    def _beyond_missing(problems: list[dict[str, Any]], missing: list[str]) -> list[dict[str, Any]]:
        """``problems`` without those that only repeat a missing field."""
        repeated = {"name"} if "graph_name" in missing else set()
        if "nodes" in missing:
            repeated.add("nodes")
        return [p for p in problems if p["node"] is not None or p["field"] not in repeated]

    def _refused(self, missing: list[str], problems: list[dict[str, Any]]) -> FinishOutcome:
        event = incomplete("The graph design", missing, problems)
        last = {"status": "incomplete", "missing_fields": missing, "problems": problems}
        return FinishOutcome(event, {"last_finish": last})

    async def review(self, document: GraphDocument) -> list[dict[str, Any]]:
        """Problems of a readable document that saving alone would not refuse: unknown models and servers."""
        catalog = GraphCatalog(
            models=await self._models.names(), mcp_servers={config.name for config in self._mcp.configs()}
        )
        report = validate_document(document, catalog)
        return _problem_views([*report.errors, *(w for w in report.warnings if w.field in _MUST_EXIST)])


class ToolGeneration:
    generation_type = "mcp"
    id_prefix = "mcp_"
    default_title = "AI生成MCP新对话"

    def __init__(self, tools: AIToolRegistry, mcp: MCPManager) -> None:
        self._tools = tools
        self._mcp = mcp

    async def check(self, request: GenerationRequest, stored: StoredSession | None) -> None:
        return None

    async def start_session(self, request: GenerationRequest) -> tuple[str, SessionState]:
        prompt = generator_template(self._mcp.tools())
        unavailable = catalog_from((), self._mcp.status().values()).unavailable_servers
        if unavailable:  # the template lists connected servers only: say which others exist
            listed = "\n".join(f"- `{server['name']}`: {server['state']}" for server in unavailable)
            prompt += (
                f"\n\nThese configured MCP servers are not connected now; their tools are not listed:\n\n{listed}\n"
            )
        return prompt, SessionState(self.generation_type, ToolDraft().to_dict())

    def apply_reply(self, state: SessionState, reply: str) -> tuple[dict[str, Any], list[str]]:
        draft = ToolDraft.from_dict(state.parsed_results)
        problems = draft.apply(read_edits(reply, TOOL_EDITS))
        return draft.to_dict(), problems

    async def finish(self, state: SessionState, request: GenerationRequest) -> FinishOutcome:
        draft = ToolDraft.from_dict(state.parsed_results)
        parsed = draft.to_dict()
        servers = {config.name for config in self._mcp.configs()}
        done = _already_done(state, parsed)
        if done is not None and done["tool_name"] in servers:
            return FinishOutcome(GenerationCompleted({**done, "already_saved": True}))
        missing = draft.missing_fields()
        problems: list[dict[str, Any]] = []
        if draft.folder_name:
            try:
                validate_tool_name(draft.folder_name)
            except InvalidInputError as exc:
                problems.append(_problem(None, "folder_name", str(exc)))
            else:
                if draft.folder_name in servers:
                    problems.append(
                        _problem(
                            None,
                            "folder_name",
                            f"an MCP server (or tool) named '{draft.folder_name}' exists already; "
                            "choose another <folder_name>",
                        )
                    )
        if missing or problems:
            event = incomplete("The MCP tool design", missing, problems)
            return FinishOutcome(
                event, {"last_finish": {"status": "incomplete", "missing_fields": missing, "problems": problems}}
            )
        design = ToolDesign(
            folder_name=draft.folder_name,
            script_files=dict(draft.script_files),
            dependencies=draft.requirements(),
            readme=draft.readme,
        )
        try:
            await self._tools.register(design)
        except MaghubError as exc:  # the registry left nothing behind; its message says why
            message = f"The tool could not be registered: {exc}"
            return FinishOutcome(
                GenerationFailed(message, "assembly_error"), {"last_finish": {"status": "failed", "message": message}}
            )
        completion = {"tool_name": draft.folder_name, "message": f"MCP工具 '{draft.folder_name}' 生成完成！"}
        changes = {
            "completion": completion,
            "finished_design": parsed,
            "final_tool": {"folder_name": draft.folder_name, "dependencies": design.dependencies},
            "last_finish": {"status": "completed", **completion},
        }
        return FinishOutcome(GenerationCompleted(completion), changes)
