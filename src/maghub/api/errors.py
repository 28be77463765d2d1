"""Error responses for MAG routes: ``{"detail": ...}`` with a real status code, never a trace."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from maghub.errors import (
    ConfigurationError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    MaghubError,
    NotFoundError,
    UnavailableError,
)

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[MaghubError], int] = {
    InvalidInputError: 400,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    UnavailableError: 503,
    ConfigurationError: 500,
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
        message = error.get("msg", "invalid value")
        described.append({"loc": list(error.get("loc", ())), "field": field, "msg": message, "type": error.get("type")})
    return described


async def _maghub_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MaghubError)
    return JSONResponse({"detail": str(exc)}, status_code=status_for(exc))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = describe_validation_errors(list(exc.errors()))
    if any(error["type"] == "json_invalid" for error in errors):
        return JSONResponse(
            {"detail": "The request body is not valid JSON: check quoting, commas and brackets."},
            status_code=400,
        )
    return JSONResponse({"detail": errors}, status_code=422)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    reference = uuid.uuid4().hex[:12]
    log.exception("unhandled error", extra={"reference": reference, "path": request.url.path}, exc_info=exc)
    return JSONResponse(
        {"detail": f"Internal server error (reference {reference}); the server log has the details."},
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MaghubError, _maghub_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
