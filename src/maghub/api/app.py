"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute

from maghub import __version__
from maghub.api.mounts.console import mount_console
from maghub.api.errors import install_error_handlers
from maghub.api.mounts.gateway import gateway_host, gateway_routes
from maghub.api.input_guard import UnstorableInputGuard
from maghub.api.middleware import (
    AccessLogMiddleware,
    BodySizeLimitMiddleware,
    RequestTelemetryMiddleware,
    TrustedRequestGuard,
)
from maghub.api.openapi.document import install_docs, install_openapi
from maghub.api.routes import (
    chat,
    generation,
    graph_runs,
    graphs,
    hub,
    mcp,
    metrics,
    models,
    schedules,
    system,
)
from maghub.api.routes.accounts import auth, keys, users
from maghub.api.security import mag_access
from maghub.security.origins import RequestOriginPolicy
from maghub.service.heap import freeze_long_lived_objects
from maghub.service.runtime import Runtime
from maghub.settings import Settings

log = logging.getLogger(__name__)


def mag_router() -> APIRouter:
    """Every MAG route, once; mounted at the root and again under /api (SPEC §1)."""
    router = APIRouter(dependencies=[Depends(mag_access)])
    router.include_router(chat.router)
    router.include_router(graph_runs.router)  # before the graphs' /graphs/{name} routes
    router.include_router(generation.router)  # likewise (/graphs/generate)
    router.include_router(models.router)
    router.include_router(mcp.router)
    router.include_router(system.router)
    router.include_router(schedules.router)
    router.include_router(graphs.router)
    return router


def _operation_id(prefix: str) -> Callable[[APIRoute], str]:
    def generate(route: APIRoute) -> str:
        return f"{prefix}{route.name}_{'_'.join(sorted(route.methods or []))}".lower()

    return generate


def create_app(settings: Settings | None = None, *, request_exit: Callable[[], None] | None = None) -> FastAPI:
    """Build the app. ``request_exit`` is how POST /system/shutdown stops the hosting server;
    by default the process sends itself SIGTERM, which every ASGI server handles gracefully."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await Runtime.start(settings, request_exit)
        app.state.runtime = runtime
        try:
            if settings.demo:
                from maghub.api.mounts.demo import register_demo_model

                await register_demo_model(runtime)
            # Left before the runtime closes: the gateway's sessions (and the runs they follow) end first.
            async with gateway_host(runtime) as app.state.gateway_host:
                freeze_long_lived_objects()
                # The server answers as soon as this yields; the LLM stack loads meanwhile, in a thread.
                runtime.llm_clients.warm_up_soon()
                yield
        finally:
            await runtime.aclose()

    app = FastAPI(
        title="maghub",
        version=__version__,
        summary="Multi-agent graphs on MCP: models, MCP hub, chat with tools, agent graphs.",
        lifespan=lifespan,
        docs_url=None,  # both served from a package by install_docs, so they work offline
        redoc_url=None,
    )
    install_error_handlers(app)
    install_docs(app)
    router = mag_router()
    app.include_router(router, generate_unique_id_function=_operation_id(""))
    app.include_router(router, prefix="/api", generate_unique_id_function=_operation_id("api_"))
    for prefix in ("", "/api"):  # the health check answers where clients of either base URL look
        app.include_router(system.health_router, prefix=prefix)
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(keys.router)
    app.include_router(hub.router)
    app.include_router(metrics.router)
    app.router.routes.extend(gateway_routes())
    mount_console(app)
    if settings.demo:
        from maghub.api.mounts.demo import mount_demo_llm

        mount_demo_llm(app, scripting=not settings.auth_enabled)

    origins = RequestOriginPolicy.build(
        listen_host=settings.host,
        allowed_hosts=settings.allowed_hosts,
        cors_origins=settings.cors_origins,
        local_mode=not settings.auth_enabled,
    )
    install_openapi(app, auth_enabled=settings.auth_enabled)
    # Innermost: its refusals get CORS headers, and it reads bodies within the size limit.
    app.add_middleware(UnstorableInputGuard)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_origin_regex=origins.cors_origin_regex,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(TrustedRequestGuard, policy=origins)
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(RequestTelemetryMiddleware)  # outermost: its span is the parent of everything
    return app
