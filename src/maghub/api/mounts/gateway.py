"""The MCP gateway's HTTP side (SPEC §13): ``/gateway/mcp``, ``/gateway/graphs/mcp`` and
``/gateway/servers/{name}/mcp``, behind maghub's own middleware and its bearer-token rules.

The gateway starts on its first request: it needs the MCP SDK, which maghub loads off the event loop
and never at startup (see :mod:`maghub.mcp.connections.sdk`). Its session manager then runs in a task
of the application's lifespan until shutdown, which ends its sessions before the runtime closes.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from maghub.api.security import bearer_user
from maghub.chat.service import DEFAULT_USER
from maghub.errors import AuthenticationError
from maghub.gateway.caller import ALL, GRAPHS, SERVER, GatewayCaller, GatewayPart
from maghub.mcp.connections.sdk import load_sdk
from maghub.service.runtime import Runtime

if TYPE_CHECKING:
    from maghub.gateway.server import Gateway

_GATEWAY_MODULE = "maghub.gateway.server"


class GatewayHost:
    """Owns the gateway: starts it on first use, stops it when the application stops."""

    def __init__(self, runtime: Runtime, task_group: anyio.abc.TaskGroup) -> None:
        self._runtime = runtime
        self._task_group = task_group
        self._gateway: Gateway | None = None
        self._starting = anyio.Lock()
        self._stop = anyio.Event()

    async def gateway(self) -> Gateway:
        if self._gateway is None:
            async with self._starting:
                if self._gateway is None:
                    await load_sdk()
                    module = await anyio.to_thread.run_sync(importlib.import_module, _GATEWAY_MODULE)
                    gateway = module.Gateway(self._runtime)
                    await self._task_group.start(self._serve, gateway)
                    self._gateway = gateway
        return self._gateway

    async def _serve(self, gateway: Gateway, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        async with gateway.run():
            task_status.started()
            await self._stop.wait()

    def stop(self) -> None:
        self._stop.set()


@asynccontextmanager
async def gateway_host(runtime: Runtime) -> AsyncIterator[GatewayHost]:
    async with anyio.create_task_group() as task_group:
        host = GatewayHost(runtime, task_group)
        try:
            yield host
        finally:
            host.stop()


class GatewayEndpoint:
    """An ASGI endpoint for one part of the gateway; the caller is checked before the MCP SDK sees it."""

    def __init__(self, kind: str) -> None:
        self._kind = kind

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        runtime: Runtime = request.app.state.runtime
        try:
            user = await bearer_user(runtime, request.headers.get("authorization"))
        except AuthenticationError as exc:
            await _unauthorized(str(exc))(scope, receive, send)
            return
        if user is None and runtime.settings.auth_enabled:
            message = (
                "The MCP gateway needs an API key or an access token: create a key with `maghub keys create` "
                "(or POST /api/keys) and send 'Authorization: Bearer <key>'."
            )
            await _unauthorized(message)(scope, receive, send)
            return
        part = GatewayPart(self._kind, scope.get("path_params", {}).get("name"))
        if part.kind == SERVER and part.server not in runtime.mcp.manager.status():
            response = JSONResponse(
                {"detail": f"There is no MCP server '{part.server}'. GET /mcp/status lists them."}, status_code=404
            )
            await response(scope, receive, send)
            return
        user_id = user.username if (user is not None and runtime.settings.auth_enabled) else DEFAULT_USER
        gateway = await request.app.state.gateway_host.gateway()
        caller = GatewayCaller(user_id, part)

        async def watched_receive() -> Message:
            # The SDK keeps a handshake-era call running when its client goes away (for a resume that
            # maghub does not offer); the gateway stops it instead, as POST /graphs/execute does.
            message = await receive()
            if message["type"] == "http.disconnect":
                caller.disconnected.set()
            return message

        await gateway.handle(scope, watched_receive, send, caller)


def _unauthorized(message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=401, headers={"WWW-Authenticate": "Bearer"})


def gateway_routes() -> list[Route]:
    return [
        Route("/gateway/mcp", GatewayEndpoint(ALL)),
        Route("/gateway/graphs/mcp", GatewayEndpoint(GRAPHS)),
        Route("/gateway/servers/{name}/mcp", GatewayEndpoint(SERVER)),
    ]
