"""AI generation (MAG reference "图生成API", ``/mcp/generate``; SPEC §11): the prompt templates and the
multi-turn design streams for graphs and MCP tools.

Streams: OpenAI chunks of the model's reply; ``{"type": "conversation_created"}`` first when the
client sent no ``conversation_id``; ``{"error": {"type": "format_error"}}`` for a tag of the reply
that could not be applied; for the finish command ``<end>END</end>`` one ``completion``,
``incomplete`` (with ``missing_fields`` and ``problems``) or ``error`` event; then ``[DONE]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from maghub.agent import AgentFailed, LLMChunk
from maghub.api.deps import RuntimeDep
from maghub.api.schemas.generation import OptimizePromptTemplate, PromptTemplate
from maghub.api.owners import UserIdField, owner
from maghub.api.security import AdminInAuthMode, TokenUser
from maghub.api.sse import error_payload, event_stream
from maghub.auth.users import User
from maghub.generation.prompts import (
    REQUIREMENT_PLACEHOLDER_TEXT,
    catalog_from,
    graph_design_prompt,
    optimization_template,
)
from maghub.generation.sessions import (
    ConversationCreated,
    DesignProblem,
    GenerationCompleted,
    GenerationEvent,
    GenerationFailed,
    GenerationIncomplete,
    GenerationKind,
    GenerationRequest,
)
from maghub.service.runtime import Runtime

router = APIRouter(tags=["generation"])


def _not_connected_note(servers: list[dict[str, str]]) -> str:
    listed = ", ".join(f"{server['name']} ({server['state']})" for server in servers)
    return (
        f"The tools of these MCP servers are not listed, as they are not connected: {listed}. "
        "Connect them (POST /mcp/connect/{name}) and ask again to include them."
    )


class GenerationBody(BaseModel):
    requirement: str = Field(max_length=200_000, description="What to design; <end>END</end> finishes the design.")
    model_name: str = Field("", description="The model that designs (not needed for <end>END</end>).")
    conversation_id: str | None = Field(
        None, max_length=200, description="Continue this session; without one a new id is announced first."
    )
    user_id: str = UserIdField


class GraphGenerationBody(GenerationBody):
    graph_name: str | None = Field(
        None, max_length=200, description="Improve this existing graph; the result is saved as its next version."
    )


def generation_payloads(event: GenerationEvent) -> Iterable[dict[str, Any]]:
    if isinstance(event, LLMChunk):
        return (event.chunk,)
    if isinstance(event, ConversationCreated):
        return ({"type": "conversation_created", "conversation_id": event.conversation_id},)
    if isinstance(event, AgentFailed):
        return (error_payload(event.message, "model_error"),)
    if isinstance(event, DesignProblem):
        return (error_payload(event.message, "format_error"),)
    if isinstance(event, GenerationCompleted):
        return ({"completion": event.result},)
    if isinstance(event, GenerationIncomplete):
        incomplete = {"message": event.message, "missing_fields": event.missing_fields, "problems": event.problems}
        return ({"incomplete": incomplete},)
    if isinstance(event, GenerationFailed):
        return (error_payload(event.message, event.type),)
    return ()


async def _catalog(runtime: Runtime) -> Any:
    return catalog_from(await runtime.models.list_masked(), runtime.mcp.manager.status().values())


def _template_view(prompt: str, catalog: Any, **fields: Any) -> dict[str, Any]:
    view: dict[str, Any] = {"prompt": prompt, **fields, "unavailable_servers": catalog.unavailable_servers}
    if catalog.unavailable_servers:
        view["note"] = " ".join(filter(None, [view.get("note"), _not_connected_note(catalog.unavailable_servers)]))
    return view


@router.get(
    "/prompt-template",
    summary="The graph-design prompt, with the models and the connected MCP tools",
    response_model=PromptTemplate,
)
async def prompt_template(runtime: RuntimeDep) -> dict[str, Any]:
    catalog = await _catalog(runtime)
    return _template_view(graph_design_prompt(catalog), catalog)


@router.get(
    "/optimize-prompt-template",
    summary="The graph-improvement prompt (with graph_name: filled with it)",
    response_model=OptimizePromptTemplate,
)
async def optimize_prompt_template(
    runtime: RuntimeDep,
    graph_name: str | None = Query(None, max_length=200, description="The graph to improve."),
) -> dict[str, Any]:
    catalog = await _catalog(runtime)
    if not graph_name:
        note = (
            "No graph_name given: the prompt keeps the placeholders {GRAPH_NAME}, {GRAPH_CONFIG} and "
            "{OPTIMIZATION_REQUIREMENT}. Pass ?graph_name= to fill them, or use POST /graphs/generate with "
            "graph_name to improve a graph in a conversation."
        )
        return _template_view(optimization_template(catalog), catalog, has_graph_config=False, note=note)
    graph = await runtime.graphs.get(graph_name)
    prompt = graph_design_prompt(catalog, graph.config, REQUIREMENT_PLACEHOLDER_TEXT)
    return _template_view(prompt, catalog, graph_name=graph.name, has_graph_config=True)


async def _stream(runtime: Runtime, kind: GenerationKind, body: GenerationBody, user: User | None, **extra: Any) -> Any:
    request = GenerationRequest(
        requirement=body.requirement,
        model_name=body.model_name,
        conversation_id=body.conversation_id,
        user_id=owner(runtime, user, body.user_id),
        editor=user,
        **extra,
    )
    started = await runtime.generation.start(kind, request)
    return event_stream(
        started.events(), generation_payloads, keep_alive_seconds=runtime.settings.sse_keepalive_seconds
    )


@router.post(
    "/graphs/generate",
    summary="Design a graph with a model, over several turns (SSE); <end>END</end> saves it",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def generate_graph(body: GraphGenerationBody, runtime: RuntimeDep, user: TokenUser) -> Any:
    return await _stream(runtime, runtime.graph_generation, body, user, graph_name=body.graph_name or None)


@router.post(
    "/mcp/generate",
    summary="Write an MCP tool with a model, over several turns (SSE); <end>END</end> installs and registers it",
    responses={200: {"content": {"text/event-stream": {}}}},
    dependencies=[AdminInAuthMode],
)
async def generate_tool(body: GenerationBody, runtime: RuntimeDep, user: TokenUser) -> Any:
    return await _stream(runtime, runtime.tool_generation, body, user)
