"""The MCP Hub server-management API (``/api/servers``), on the one MCP registry maghub has.

Every answer is the hub's envelope ``{"success", "data", "timestamp"}``; errors are rendered by
:mod:`maghub.api.errors` with the hub's codes.

Every route needs a token (as the hub documents), except ``validate`` and ``test`` in local mode.
MCP servers are instance-wide (SPEC §9): every user reads them, only admins create, change, delete,
connect or disconnect them, and only admins try configurations (``test`` starts the server).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel

from maghub.api.deps import RuntimeDep
from maghub.api.views import error_history
from maghub.api.schemas.hub import (
    Envelope,
    HubConnection,
    HubMessage,
    HubProbe,
    HubReview,
    HubServer,
    HubServerList,
    HubServerSaved,
    HubServerStatus,
    HubServerUpdated,
)
from maghub.api.security import AdminUser, SignedIn, admin_in_auth_mode, token_in_auth_mode
from maghub.auth.users import User
from maghub.errors import ConflictError
from maghub.mcp.configuration.advice import review_server_config
from maghub.mcp.configuration.server_config import parse_hub_server, parse_server_entry, to_hub_config
from maghub.mcp.errors import UnknownServerError
from maghub.mcp.connections.status import ConnectionState, ServerStatus
from maghub.service.runtime import Runtime
from maghub.timestamps import iso_utc_or_none, utc_now_iso

router = APIRouter(prefix="/api/servers", tags=["hub"])

ConfigBody = Body(
    examples=[{"type": "stdio", "command": "npx", "args": ["-y", "time-mcp"], "enabled": True}],
    description="A server configuration in the hub dialect.",
)


def envelope(data: Any) -> dict[str, Any]:
    return {"success": True, "data": data, "timestamp": utc_now_iso()}


def server_view(runtime: Runtime, status: ServerStatus, *, detailed: bool = False) -> dict[str, Any]:
    config = runtime.mcp.masked(runtime.mcp.manager.config(status.name))
    tools = [
        {"name": tool.name, "description": tool.description}
        | ({"inputSchema": tool.input_schema, "serverId": status.name} if detailed else {})
        for tool in status.tools
    ]
    return {
        "id": status.name,
        "name": status.name,
        "type": to_hub_config(config)["type"],
        "status": status.state.value,
        "enabled": status.enabled,
        "config": to_hub_config(config),
        "tools": tools,
        "lastConnected": iso_utc_or_none(status.last_connected, milliseconds=True),
        "reconnectAttempts": status.reconnect_attempts,
        "lastError": status.last_error,
        "nextRetryAt": iso_utc_or_none(status.next_retry_at, milliseconds=True),
        "toolCount": status.tool_count,
        **error_history(status, milliseconds=True),
    }


@router.get("", summary="List the servers with their status", response_model=Envelope[HubServerList])
async def list_servers(runtime: RuntimeDep, _user: SignedIn) -> dict[str, Any]:
    statuses = list(runtime.mcp.manager.status().values())
    summary = {"total": len(statuses)} | {state.value: 0 for state in ConnectionState}
    for status in statuses:
        summary[status.state.value] += 1
    servers = [server_view(runtime, status) for status in statuses]
    return envelope({"servers": servers, "total": len(servers), "summary": summary})


class ServerCreate(BaseModel):
    id: str
    config: dict[str, Any]


class ServerUpdate(BaseModel):
    config: dict[str, Any]


@router.post(
    "",
    status_code=201,
    summary="Create a server; an enabled one connects in the background",
    response_model=Envelope[HubServerSaved],
)
async def create_server(body: ServerCreate, runtime: RuntimeDep, _admin: AdminUser) -> dict[str, Any]:
    config = parse_hub_server(body.id, body.config)
    result = await runtime.mcp.add([config])
    if result.duplicates:
        raise ConflictError(f"A server with id '{body.id}' already exists; update it with PUT.", code="SERVER_EXISTS")
    shown = to_hub_config(runtime.mcp.masked(config))
    return envelope({"id": body.id, "config": shown, "message": f"服务器 '{body.id}' 创建成功"})


@router.post("/test", summary="Try a configuration without saving it", response_model=Envelope[HubProbe])
async def test_server(
    runtime: RuntimeDep,
    config: dict[str, Any] = ConfigBody,
    _user: User | None = Depends(admin_in_auth_mode),
) -> dict[str, Any]:
    parsed = parse_server_entry("test", config)
    probe = await runtime.mcp.manager.probe(parsed)
    data: dict[str, Any] = {
        "success": probe.ok,
        "message": "服务器连接测试成功" if probe.ok else f"Connection test failed: {probe.message}",
        "details": {
            "status": probe.state.value,
            "toolCount": probe.tool_count,
            "tools": [{"name": tool.name, "description": tool.description} for tool in probe.tools],
            "lastConnected": utc_now_iso() if probe.ok else None,
            "serverName": probe.server_name,
            "serverVersion": probe.server_version,
            "protocolVersion": probe.protocol_version,
        },
        "executionTime": round(probe.elapsed_ms),
    }
    if probe.failure is not None:
        data["error"] = {"kind": probe.failure.kind.value, "message": probe.failure.message}
    return envelope(data)


@router.post(
    "/validate",
    summary="Check a configuration: errors, warnings and suggestions",
    response_model=Envelope[HubReview],
)
async def validate_server(config: Any = ConfigBody, _user: User | None = Depends(token_in_auth_mode)) -> dict[str, Any]:
    return envelope(review_server_config(config).to_json())


@router.get("/{server_id}", summary="One server with its tools", response_model=Envelope[HubServer])
async def get_server(server_id: str, runtime: RuntimeDep, _user: SignedIn) -> dict[str, Any]:
    return envelope(server_view(runtime, runtime.mcp.manager.server_status(server_id), detailed=True))


@router.put(
    "/{server_id}",
    summary="Replace a server's configuration; it reconnects only if that changed",
    response_model=Envelope[HubServerUpdated],
)
async def update_server(server_id: str, body: ServerUpdate, runtime: RuntimeDep, _admin: AdminUser) -> dict[str, Any]:
    before = runtime.mcp.manager.config(server_id)
    config = parse_hub_server(server_id, body.config)
    await runtime.mcp.update(config)
    after = runtime.mcp.manager.config(server_id)
    return envelope(
        {
            "id": server_id,
            "config": to_hub_config(runtime.mcp.masked(after)),
            "reconnected": after.enabled and after.connection_settings != before.connection_settings,
            "message": f"服务器 '{server_id}' 更新成功",
        }
    )


@router.delete("/{server_id}", summary="Delete a server (it is stopped first)", response_model=Envelope[HubMessage])
async def delete_server(server_id: str, runtime: RuntimeDep, _admin: AdminUser) -> dict[str, Any]:
    result = await runtime.mcp.remove([server_id])
    if not result.removed:
        raise UnknownServerError(server_id)
    return envelope({"id": server_id, "message": f"服务器 '{server_id}' 删除成功"})


@router.get("/{server_id}/status", summary="A server's connection status", response_model=Envelope[HubServerStatus])
async def server_status(server_id: str, runtime: RuntimeDep, _user: SignedIn) -> dict[str, Any]:
    status = runtime.mcp.manager.server_status(server_id)
    return envelope(
        {
            "id": server_id,
            "status": status.state.value,
            "lastConnected": iso_utc_or_none(status.last_connected, milliseconds=True),
            "reconnectAttempts": status.reconnect_attempts,
            "toolCount": status.tool_count,
            "isConnected": status.state == ConnectionState.CONNECTED,
            "isConnecting": status.state == ConnectionState.CONNECTING,
            "hasError": status.state == ConnectionState.ERROR,
            "lastError": status.last_error,
            "nextRetryAt": iso_utc_or_none(status.next_retry_at, milliseconds=True),
            **error_history(status, milliseconds=True),
        }
    )


@router.post(
    "/{server_id}/connect",
    summary="Start connecting (answers at once)",
    response_model=Envelope[HubConnection],
)
async def connect_server(server_id: str, runtime: RuntimeDep, _admin: AdminUser) -> dict[str, Any]:
    manager = runtime.mcp.manager
    state = manager.server_status(server_id).state
    if state == ConnectionState.CONNECTED:
        raise ConflictError(f"Server '{server_id}' is already connected.", code="SERVER_ALREADY_CONNECTED")
    if state == ConnectionState.CONNECTING:
        raise ConflictError(f"Server '{server_id}' is connecting; check its status.", code="SERVER_CONNECTING")
    if not manager.config(server_id).enabled:
        raise ConflictError(
            f"Server '{server_id}' is disabled; enable it with PUT /api/servers/{server_id} first.",
            code="SERVER_DISABLED",
        )
    await manager.connect(server_id, wait=False)
    return envelope({"id": server_id, "message": f"服务器 '{server_id}' 连接请求已发送", "status": "connecting"})


@router.post(
    "/{server_id}/disconnect",
    summary="Disconnect a server (it stays configured)",
    response_model=Envelope[HubConnection],
)
async def disconnect_server(server_id: str, runtime: RuntimeDep, _admin: AdminUser) -> dict[str, Any]:
    manager = runtime.mcp.manager
    if manager.server_status(server_id).state == ConnectionState.DISCONNECTED:
        raise ConflictError(f"Server '{server_id}' is already disconnected.", code="SERVER_ALREADY_DISCONNECTED")
    await manager.disconnect(server_id)
    return envelope({"id": server_id, "message": f"服务器 '{server_id}' 已断开连接", "status": "disconnected"})
