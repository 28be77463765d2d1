"""Refuses, before routing, request data that no database backend can store (``maghub.storable``).

One check at the edge covers every route, present and future: the path, every query parameter
and every JSON body (including the free-form ones, such as MCP configurations, that no pydantic
model describes). Bodies are scanned for a hint first (a ``\\u0000`` escape, a long run of digits,
a large exponent, ``NaN``/``Infinity``); only a body with one is parsed here to find the field, so
ordinary requests pay one byte scan.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maghub.api.errors import describe_validation_errors, error_response
from maghub.storable import NUL_MESSAGE, Unstorable, find_unstorable

# Anything that might parse to a NUL, an integer beyond 64 bits or a non-finite float.
_SUSPECT = re.compile(rb"\\u0000|\d{19}|\d[eE]\+?\d{3}|NaN|Infinity")


class UnstorableInputGuard:
    """Answers 422 (400 with the hub's envelope on hub routes) naming the field, like a schema error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = _in_path_or_query(scope)
        if found is None and _has_json_body(scope):
            try:
                body = await _read_body(receive)
            except HTTPException as exc:  # the body size limit, raised while reading
                await error_response(Request(scope), exc.status_code, str(exc.detail))(scope, receive, send)
                return
            found = _in_body(body)
            receive = _replay(body, receive)
        if found is None:
            await self.app(scope, receive, send)
            return
        problems = describe_validation_errors([{"loc": found.location, "msg": found.message, "type": found.kind}])
        await error_response(Request(scope), 422, problems)(scope, receive, send)


def _in_path_or_query(scope: Scope) -> Unstorable | None:
    if "\x00" in scope.get("path", ""):
        return Unstorable(("path",), NUL_MESSAGE, "string_nul")
    query = scope.get("query_string", b"").decode("latin-1")
    if "%00" not in query:
        return None
    for name, value in parse_qsl(query, keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return Unstorable(("query", name.replace("\x00", "")), NUL_MESSAGE, "string_nul")
    return None


def _has_json_body(scope: Scope) -> bool:
    """Whether FastAPI would parse the body as JSON: no content type, or a JSON one."""
    if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
        return False
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media_type = value.split(b";", 1)[0].strip().lower()
            return media_type == b"application/json" or media_type.endswith(b"+json")
    return True


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _in_body(body: bytes) -> Unstorable | None:
    if not _SUSPECT.search(body):
        return None
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None  # not JSON: the route reports that
    found = find_unstorable(data)
    return Unstorable(("body", *found.location), found.message, found.kind) if found else None


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once, then the client's own messages (a streaming route listens for the disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
