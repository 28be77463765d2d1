"""Error responses with real status codes, never a stack trace.

MAG routes answer ``{"detail": ...}`` (FastAPI's convention, as the original); the hub routes
(``/api/servers``, ``/api/auth``) answer the hub's envelope ``{"success": false, "error": {code,
message, details}, "timestamp"}``.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from maghub.api.openapi.routing import allowed_methods
from maghub.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    MaghubError,
    NotFoundError,
    TooManyRequestsError,
    UnavailableError,
    UpstreamError,
)
from maghub.timestamps import utc_now_iso

log = logging.getLogger(__name__)

HUB_PREFIXES = ("/api/servers", "/api/auth")

STATUS_BY_ERROR: dict[type[MaghubError], int] = {
    InvalidInputError: 400,
    AuthenticationError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    TooManyRequestsError: 429,
    UnavailableError: 503,
    UpstreamError: 502,
    ConfigurationError: 500,
}

HUB_CODE_BY_STATUS = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "SERVER_NOT_FOUND",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    422: "VALIDATION_ERROR",
    429: "TOO_MANY_REQUESTS",
}


def status_for(error: MaghubError) -> int:
    for error_type in type(error).__mro__:
        if error_type in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[error_type]
    return 400


def describe_validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI's error list without the offending ``input`` (it may hold a secret) or doc URLs."""
    described = []
    for error in errors:
        location = [part for part in error.get("loc", ()) if part != "body"]
        field = ".".join(str(part) for part in location) or "body"
        described.append(
            {
                "loc": list(error.get("loc", ())),
                "field": field,
                "msg": error.get("msg", "invalid value"),
                "type": error.get("type"),
            }
        )
    return described


def is_hub_path(path: str) -> bool:
    return path.startswith(HUB_PREFIXES)


def is_hub_route(request: Request) -> bool:
    return is_hub_path(request.url.path)


def hub_error_body(
    status: int, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The hub's error envelope (documented as ``HubError`` in the OpenAPI document)."""
    return {
        "success": False,
        "error": {
            "code": code or HUB_CODE_BY_STATUS.get(status, "SERVER_API_ERROR"),
            "message": message,
            "details": details or {},
        },
        "timestamp": utc_now_iso(),
    }


def plain_error_body(path: str, status: int, message: str) -> dict[str, Any]:
    """An error answered before routing (by middleware): the body its path's routes answer."""
    return hub_error_body(status, message) if is_hub_path(path) else {"detail": message}


def error_response(
    request: Request,
    status: int,
    message: str | list[dict[str, Any]],
    *,
    code: str | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    if is_hub_route(request):
        text = message if isinstance(message, str) else "; ".join(f"{e['field']}: {e['msg']}" for e in message)
        error_details = dict(details or {})
        if not isinstance(message, str):
            error_details.setdefault("errors", message)
        body = hub_error_body(status, text, code=code, details=error_details)
        # The hub reports schema problems as 400 VALIDATION_ERROR.
        return JSONResponse(body, status_code=400 if status == 422 else status, headers=headers)
    return JSONResponse({"detail": message, **(details or {})}, status_code=status, headers=headers)


async def _maghub_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MaghubError)
    details: dict[str, Any] = {}
    problems = getattr(exc, "problems", None)  # validation errors list every problem, with its field
    if problems:
        details["problems"] = [dataclasses.asdict(problem) for problem in problems]
    headers = None
    if isinstance(exc, TooManyRequestsError):
        headers = {"Retry-After": str(int(exc.retry_after) + 1)}
    return error_response(request, status_for(exc), str(exc), code=exc.code, details=details, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = describe_validation_errors(list(exc.errors()))
    if any(error["type"] == "json_invalid" for error in errors):
        return error_response(request, 400, "The request body is not valid JSON: check quoting, commas and brackets.")
    return error_response(request, 422, errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = "NOT_FOUND" if exc.status_code == 404 else None
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code == 405:
        # The route that matched knows only its own methods; the path may have more.
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request.app.routes, request.url.path))}
    return error_response(request, exc.status_code, str(exc.detail), code=code, headers=headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    reference = uuid.uuid4().hex[:12]
    log.exception("unhandled error", extra={"reference": reference, "path": request.url.path}, exc_info=exc)
    message = f"Internal server error (reference {reference}); the server log has the details."
    return error_response(request, 500, message, code="SERVER_API_ERROR")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MaghubError, _maghub_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
