"""An OpenAPI document that tells a client everything it can meet, and API docs that work offline.

FastAPI documents each operation's success response and a 422; maghub's routes also answer 400,
401, 403, 404, 409, 413, 429, 502 and 503, in one of two error bodies (``{"detail"}`` for the MAG
routes, the hub's envelope for ``/api/servers`` and ``/api/auth``). Most of those statuses follow
from what an operation is made of, so they are derived here rather than written on every route:

- a JSON or form body: 400 (not valid JSON, or a value the domain refuses), 413 (over
  ``MAGHUB_MAX_BODY_BYTES``), 422 (schema violations; the hub answers those as 400);
- path or query parameters: 422; path parameters: 404 (they name something that may not exist);
- the bearer token dependency: 401 (a bad token, or a missing one where it is required), and
  ``security`` says whether the token is required or optional in this mode;
- an admin dependency, or any state-changing method (the cross-site request guard): 403;
- every operation: 503 while maghub shuts down.

What cannot be derived (domain errors a route raises) is listed in :data:`DOMAIN_STATUSES`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import fastapi_offline
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from maghub.api.errors import is_hub_path
from maghub.api.openapi.routing import api_routes
from maghub.api.security import admin_in_auth_mode, signed_in, signed_in_admin

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
DOCS_ASSETS_PATH = "/docs/assets"
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"  # Swagger UI 5 (OpenAPI 3.1) and ReDoc 2
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_BEARER = "HTTPBearer"

# Domain errors per route (the route function's name), beyond what the route's shape implies.
DOMAIN_STATUSES: dict[str, frozenset[int]] = {
    name: frozenset(statuses)
    for name, statuses in {
        # auth
        "login": {401, 429},
        "me": {401},
        # chat: unknown models or MCP servers, another user's conversation id, a turn already running
        "chat_completions": {400, 403, 404, 409, 502},
        "set_status": {400, 409},
        "set_title": {400, 409},
        "set_tags": {400, 409},
        "delete_permanently": {409},
        "compact": {400, 409},
        # graph runs
        "execute": {400, 403, 404, 409},
        # graphs: invalid graphs, names taken, graphs in use, files missing on the server's disk
        "save_graph": {409},
        "delete_graph": {409},
        "rename_graph": {400, 409},
        "import_from_path": {404, 409},
        "import_upload": {409},
        "import_package_from_path": {404, 409},
        "import_package_upload": {409},
        "export_graph": {400},
        "download_package": {400},
        # MCP: disabled servers, unknown tools
        "remove_servers": {404},
        "connect": {400, 409},
        "test_tool": {404, 409},
        # the hub: stdio servers are for admins, already connected/disconnected/existing
        "create_server": {403, 409},
        "update_server": {403, 409},
        "delete_server": {403},
        "connect_server": {403, 409},
        "disconnect_server": {409},
        # AI generation: a blank requirement, unknown models or graphs, an id of another kind of conversation
        "generate_graph": {400, 404, 409},
        "generate_tool": {400, 404, 409},
        "optimize_prompt_template": {404},
        "register_tool": {400, 409},
        # users and API keys: names taken, the last admin kept
        "create_user": {409},
        "disable_user": {409},
        "delete_user": {409},
        "create_key": {400},
        # schedules: an invalid cron or time zone, a graph that is not saved or was deleted
        "create_schedule": {400},
        "update_schedule": {400},
        "resume_schedule": {400},
    }.items()
}

STATUS_DESCRIPTIONS = {
    400: "Bad request: the body is not valid JSON, or a value is refused (the message says which and why).",
    401: "No access token where one is required, or a token that is not valid (see WWW-Authenticate).",
    403: "Forbidden: the user lacks the role, the resource is another user's, or a page of another site "
    "sent a state-changing request.",
    404: "Not found: what the request names does not exist.",
    409: "Conflict with the current state (a name taken, a resource in use or busy).",
    413: "The request body is over MAGHUB_MAX_BODY_BYTES.",
    422: "The request does not match the schema; every problem is listed with its field.",
    429: "Too many failed logins: wait the Retry-After seconds.",
    502: "The model's API failed (a chat with stream false).",
    421: "The Host header names neither a loopback address nor one of MAGHUB_ALLOWED_HOSTS (DNS rebinding).",
    503: "maghub is shutting down and takes no new work, or an MCP server is not connected or timed out.",
}


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description="Where the problem is, as FastAPI locates it.")
    field: str = Field(description="The field, dotted ('body' for the body as a whole).")
    msg: str
    type: str | None


class MagError(BaseModel):
    """The MAG routes' error body. Graph validation errors add ``problems`` (every ``{node, field,
    message}``)."""

    model_config = ConfigDict(extra="allow")

    detail: str | list[ValidationIssue]


class HubErrorDetail(BaseModel):
    code: str = Field(description="A machine-readable code, e.g. VALIDATION_ERROR, SERVER_NOT_FOUND.")
    message: str
    details: dict[str, Any]


class HubError(BaseModel):
    """The hub's error envelope (``/api/servers``, ``/api/auth``)."""

    success: Literal[False]
    error: HubErrorDetail
    timestamp: str


def install_openapi(app: FastAPI, *, auth_enabled: bool) -> None:
    """Make ``app.openapi()`` answer the complete document, as true for this mode."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            complete_document(document, app.routes, auth_enabled=auth_enabled)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete_document(document: dict[str, Any], routes: Iterable[Any], *, auth_enabled: bool) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in (MagError, HubError):
        _register(schemas, model)
    for route in api_routes(routes):
        if not getattr(route, "include_in_schema", False):
            continue
        operations = document["paths"].get(route.path_format, {})
        for method in route.methods or ():
            operation = operations.get(method.lower())
            if operation is not None:
                _complete_operation(operation, route, method, auth_enabled=auth_enabled)
    # FastAPI's own 422 schemas, replaced by ours above.
    paths = json.dumps(document["paths"])
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{unused}"' not in paths:
            schemas.pop(unused, None)


def error_statuses(route: APIRoute, method: str, *, auth_enabled: bool) -> set[int]:
    """Every error status ``method`` on ``route`` can answer."""
    dependant = route.dependant
    calls = set(_dependency_calls(dependant))
    has_body = bool(dependant.body_params)
    statuses = {421, 503} | DOMAIN_STATUSES.get(route.name, frozenset())  # 421: a Host not allowed
    if has_body:
        statuses |= {400, 413}
    if has_body or _all_params(dependant):
        statuses.add(400 if is_hub_path(route.path_format) else 422)
    if dependant.path_params:
        statuses.add(404)
    if any(isinstance(call, HTTPBearer) for call in calls):
        statuses.add(401)
    if signed_in_admin in calls or (auth_enabled and admin_in_auth_mode in calls):
        statuses.add(403)
    if method in _UNSAFE_METHODS:
        statuses.add(403)
    return statuses


def _complete_operation(operation: dict[str, Any], route: APIRoute, method: str, *, auth_enabled: bool) -> None:
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    body_schema = {"$ref": f"#/components/schemas/{'HubError' if is_hub_path(route.path_format) else 'MagError'}"}
    for status in sorted(error_statuses(route, method, auth_enabled=auth_enabled)):
        response: dict[str, Any] = {
            "description": STATUS_DESCRIPTIONS[status],
            "content": {"application/json": {"schema": body_schema}},
        }
        if status == 401:
            response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        if status == 429:
            response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}}
        responses[str(status)] = response
    if "security" in operation:
        calls = set(_dependency_calls(route.dependant))
        required = auth_enabled or signed_in in calls or signed_in_admin in calls
        # An empty requirement makes the token optional: local mode serves these without one.
        operation["security"] = [{_BEARER: []}] if required else [{}, {_BEARER: []}]


def _register(schemas: dict[str, Any], model: type[BaseModel]) -> None:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas[model.__name__] = schema


def _all_params(dependant: Dependant) -> bool:
    return bool(dependant.path_params or dependant.query_params or dependant.header_params) or any(
        _all_params(sub) for sub in dependant.dependencies
    )


def _dependency_calls(dependant: Dependant) -> Iterable[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _dependency_calls(sub)


def install_docs(app: FastAPI) -> None:
    """Swagger UI at ``/docs`` and ReDoc at ``/redoc``, with their scripts from the
    ``fastapi-offline`` package instead of a CDN, so both render offline."""
    app.mount(DOCS_ASSETS_PATH, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_path = f"{DOCS_PATH}/oauth2-redirect"

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{DOCS_ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS_PATH}/favicon.png",
            oauth2_redirect_url=redirect_path,
            swagger_ui_parameters={"validatorUrl": None},  # no badge from the online validator
        )

    @app.get(redirect_path, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            redoc_js_url=f"{DOCS_ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
