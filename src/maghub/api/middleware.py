"""ASGI middleware: refusal of untrusted hosts and cross-site requests, request body size limit, one
structured log line per request, and the request's metrics and trace span."""

from __future__ import annotations

import json
import logging
import time
import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maghub.api.errors import plain_error_body
from maghub.observability import metrics, tracing
from maghub.security.origins import RequestOriginPolicy

access_log = logging.getLogger("maghub.access")


class TrustedRequestGuard:
    """Refuses, before routing, requests addressed to a host maghub is not served under (421), and
    requests that change something when a browser says they come from a page of another site (403).

    The ``Host`` check is the defence against DNS rebinding (see :mod:`maghub.security.origins`); it
    covers reads too, since a rebound page could otherwise read conversations. The ``Origin`` check
    covers what CORS does not: CORS only hides answers from scripts of other origins, while a page can
    still *send* a "simple" request (a form post, a multipart upload, ``fetch`` in no-cors mode) and
    it runs. Browsers always name the page's origin in ``Origin`` on such requests; clients that are
    not browsers (curl, the CLI, SDKs) send none and pass. WebSocket handshakes are checked like
    state-changing requests whatever their method: browsers do not apply CORS to them. Lifespan
    events pass."""

    _SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app: ASGIApp, policy: RequestOriginPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        host = headers.get(b"host", b"").decode("latin-1")
        if not self.policy.host_allowed(host):
            await _refuse(scope, send, 421, self.policy.host_refusal(host))
            return
        origin = headers.get(b"origin")
        checks_origin = scope["type"] == "websocket" or scope["method"] not in self._SAFE_METHODS
        if checks_origin and origin is not None:
            origin_text = origin.decode("latin-1")
            if not self.policy.origin_allowed(origin_text, host_header=host):
                await _refuse(scope, send, 403, self.policy.origin_refusal(origin_text))
                return
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, send: Send, status: int, detail: str) -> None:
    if scope["type"] == "websocket":
        # Closing before accepting makes the server answer the handshake with 403.
        await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
        return
    await _send_json(send, status, plain_error_body(scope["path"], status, detail))


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


UNMATCHED_ROUTE = "<unmatched>"


class RequestTelemetryMiddleware:
    """Counts and times each request by its route template (``/graphs/runs/{conversation_id}``, not
    the raw path: one series per route, whatever the ids), and makes it the root span of its trace
    when traces are on. The template is known once routing has run, so it is read afterwards."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        started = time.perf_counter()
        status = 500
        span = tracing.start_span(method, {"http.request.method": method, "url.path": scope["path"]}, server=True)

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            with tracing.current(span):
                await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            metrics.http_requests.labels(method, route, str(status)).inc()
            metrics.http_request_duration.labels(method, route).observe(time.perf_counter() - started)
            if span is not None:
                span.update_name(f"{method} {route}")
                tracing.end(
                    span,
                    {"http.route": route, "http.response.status_code": status},
                    error=str(status) if status >= 500 else None,
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
