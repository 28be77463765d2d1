"""ASGI middleware: cross-site request refusal, request body size limit, and one structured log line
per request."""

from __future__ import annotations

import json
import logging
import time
import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maghub.api.errors import plain_error_body

access_log = logging.getLogger("maghub.access")


class CrossSiteRequestGuard:
    """Refuses requests that change something when a browser says they come from another site.

    CORS only hides answers from scripts of other origins; a page can still *send* a "simple"
    request (a form post, a multipart upload, ``fetch`` in no-cors mode) and it runs. In local mode
    maghub's routes need no token, so without this check any web page open in the user's browser
    could, for example, upload a graph package. Browsers always name the page's origin in
    ``Origin`` on such requests; clients that are not browsers (curl, the CLI, SDKs) send none
    and pass. Allowed: the origins of ``MAGHUB_CORS_ORIGINS`` and maghub's own pages."""

    _SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app: ASGIApp, allowed_origins: list[str]) -> None:
        self.app = app
        self.allowed = {origin.rstrip("/").lower() for origin in allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in self._SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        origin = headers.get(b"origin")
        if origin is None or self._allowed(
            origin.decode("latin-1"), headers.get(b"host", b"").decode("latin-1"), scope
        ):
            await self.app(scope, receive, send)
            return
        message = (
            f"Cross-site request refused: a page at {origin.decode('latin-1')!r} may not change anything here. "
            "Add its origin to MAGHUB_CORS_ORIGINS if it is a client you trust."
        )
        await _send_json(send, 403, plain_error_body(scope["path"], 403, message))

    def _allowed(self, origin: str, host: str, scope: Scope) -> bool:
        origin = origin.rstrip("/").lower()
        if origin in self.allowed:
            return True
        own = f"{scope.get('scheme', 'http')}://{host}".lower()
        return bool(host) and origin == own


class BodySizeLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413, by Content-Length or while reading."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return f"Request body too large: the limit is {self.max_bytes} bytes (setting MAGHUB_MAX_BODY_BYTES)."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _send_json(send, 413, plain_error_body(scope["path"], 413, self._message()))
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises HTTPException from body reading, so this becomes the 413.
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited_receive, send)


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex[:12]
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )


async def _send_json(send: Send, status: int, body: dict[str, object]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
