"""MCP management (MAG reference "MCP管理API"): the seed's shapes plus the original's extra fields.

Responses use real status codes where the original hid errors in a 200 body: unknown servers 404,
invalid configurations 400 listing every problem, failed connections 400.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from maghub.api.deps import RuntimeDep
from maghub.api.views import error_history
from maghub.api.schemas.mcp import (
    AllConnected,
    ConfigApplied,
    McpDocument,
    ServerConnected,
    ServerDisconnected,
    ServerStatusView,
    ServersAdded,
    ServersRemoved,
    ToolCalled,
    ToolView,
)
from maghub.api.security import AdminInAuthMode
from maghub.errors import InvalidInputError
from maghub.mcp.configuration.server_config import parse_mcp_servers, to_mag_document
from maghub.mcp.connections.status import ConnectionState, ServerStatus
from maghub.mcp.errors import UnknownServerError
from maghub.mcp.tools import ToolSpec
from maghub.service.runtime import Runtime
from maghub.timestamps import iso_utc_or_none
from maghub.tools.dependencies import parse_dependencies
from maghub.tools.registry import RegisteredTool, ToolDesign
from maghub.tools.template import generator_template

router = APIRouter(tags=["mcp"])

ConfigDocument = Body(
    examples=[{"mcpServers": {"time": {"command": "npx", "args": ["-y", "time-mcp"], "transportType": "stdio"}}}],
    description='A MAG mcp.json, hub or Claude Desktop document: {"mcpServers": {name: config}}.',
)


def status_view(status: ServerStatus) -> dict[str, Any]:
    """One server's status: the seed's ``connected``/``tools``, the original's fields, and ours."""
    attempted = status.state != ConnectionState.DISCONNECTED or status.last_connected is not None
    return {
        "connected": status.connected,
        "init_attempted": attempted or status.reconnect_attempts > 0,
        "tools": [tool.name for tool in status.tools],
        "error": status.last_error if status.state == ConnectionState.ERROR else None,
        "transport_type": status.transport.value,
        "status": status.state.value,
        "enabled": status.enabled,
        "toolCount": status.tool_count,
        "lastConnected": iso_utc_or_none(status.last_connected),
        "lastError": status.last_error,
        "lastErrorKind": status.last_error_kind.value if status.last_error_kind else None,
        "reconnectAttempts": status.reconnect_attempts,
        "nextRetryAt": iso_utc_or_none(status.next_retry_at),
        **error_history(status),
    }


def tool_view(tool: ToolSpec) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}


async def _settle(runtime: Runtime, names: list[str]) -> None:
    if names:
        await runtime.mcp.manager.wait_settled(names, timeout=runtime.settings.mcp_apply_wait_seconds)


@router.get(
    "/mcp/config",
    summary="The MCP configuration in the MAG dialect (secrets masked)",
    response_model=McpDocument,
)
async def get_config(runtime: RuntimeDep) -> dict[str, Any]:
    return to_mag_document(runtime.mcp.masked(config) for config in await runtime.mcp.configs())


@router.post(
    "/mcp/config",
    summary="Replace the whole MCP configuration; changed servers reconnect",
    dependencies=[AdminInAuthMode],
    response_model=dict[str, ServerStatusView | ConfigApplied],
)
async def replace_config(runtime: RuntimeDep, document: dict[str, Any] = ConfigDocument) -> dict[str, Any]:
    configs = parse_mcp_servers(document)
    applied = await runtime.mcp.replace_all(configs)
    await _settle(runtime, [*applied.added, *applied.changed])
    statuses = runtime.mcp.manager.status()
    # The seed's per-server results; "status" is the original's summary, unless a server has that name.
    body: dict[str, Any] = {
        "status": {
            "message": "配置已更新",
            "added": applied.added,
            "changed": applied.changed,
            "removed": applied.removed,
            "unchanged": applied.unchanged,
        }
    }
    body.update({name: status_view(status) for name, status in statuses.items()})
    return body


@router.get("/mcp/status", summary="Connection status of every MCP server", response_model=dict[str, ServerStatusView])
async def get_status(runtime: RuntimeDep) -> dict[str, Any]:
    return {name: status_view(status) for name, status in runtime.mcp.manager.status().items()}


@router.post(
    "/mcp/add",
    summary="Add MCP servers (all valid, or nothing is added)",
    dependencies=[AdminInAuthMode],
    response_model=ServersAdded,
)
async def add_servers(runtime: RuntimeDep, document: dict[str, Any] = ConfigDocument) -> dict[str, Any]:
    configs = parse_mcp_servers(document)
    if not configs:
        raise InvalidInputError('No servers given: send {"mcpServers": {"name": {...}}} with at least one server.')
    result = await runtime.mcp.add(configs)
    await _settle(runtime, result.added)
    if result.added and result.duplicates:
        status, message = "partial_success", f"成功添加 {len(result.added)} 个服务器，{len(result.duplicates)} 个已存在"
    elif result.added:
        status, message = "success", f"成功添加 {len(result.added)} 个服务器"
    else:
        status, message = "no_changes", "所有服务器都已存在"
    statuses = runtime.mcp.manager.status()
    return {
        "status": status,
        "message": message,
        "added_servers": result.added,
        "duplicate_servers": result.duplicates,
        "skipped_servers": result.duplicates,
        "servers": {name: status_view(statuses[name]) for name in result.added},
    }


@router.post(
    "/mcp/remove",
    summary="Remove MCP servers by name; their processes are stopped",
    dependencies=[AdminInAuthMode],
    response_model=ServersRemoved,
)
async def remove_servers(
    runtime: RuntimeDep, names: list[str] = Body(examples=[["server1", "server2"]])
) -> dict[str, Any]:
    if not names:
        raise InvalidInputError('No server names given: send a JSON array such as ["server1"].')
    result = await runtime.mcp.remove(names)
    if not result.removed:
        raise UnknownServerError(", ".join(result.not_found))
    return {
        "status": "partial_success" if result.not_found else "success",
        "message": f"成功删除 {len(result.removed)} 个服务器",
        "removed_servers": result.removed,
        "not_found_servers": result.not_found,
        "failed_removals": [],
        "ai_generated_count": len(result.ai_generated),
        "traditional_count": len(result.removed) - len(result.ai_generated),
        "total_requested": len(dict.fromkeys(names)),
    }


@router.post(
    "/mcp/connect/{server_name}",
    summary="Connect one MCP server, or 'all' of them in parallel",
    dependencies=[AdminInAuthMode],
    response_model=ServerConnected | AllConnected,
)
async def connect(server_name: str, runtime: RuntimeDep) -> dict[str, Any]:
    manager = runtime.mcp.manager
    if server_name.lower() == "all":
        before = manager.status()
        after = await manager.connect_all(wait=True)
        servers: dict[str, Any] = {}
        for name, status in after.items():
            if not status.enabled:
                continue
            outcome = "already_connected" if before[name].connected else ("connected" if status.connected else "failed")
            servers[name] = {"status": outcome, "tools": [tool.name for tool in status.tools]}
            if not status.connected:
                servers[name]["error"] = status.last_error
        outcomes = [entry["status"] for entry in servers.values()]
        return {
            "status": "completed",
            "summary": {
                "total_servers": len(servers),
                "successful_connections": outcomes.count("connected"),
                "failed_connections": outcomes.count("failed"),
                "already_connected": outcomes.count("already_connected"),
            },
            "servers": servers,
            "tools": {name: entry["tools"] for name, entry in servers.items()},
        }
    status = await manager.connect(server_name, wait=True)
    if not status.connected:
        raise InvalidInputError(
            f"Cannot connect to MCP server '{server_name}': {status.last_error or status.state.value}"
        )
    return {
        "status": "success",
        "server": server_name,
        "message": "连接成功",
        "tools": [tool.name for tool in status.tools],
        "connection": status_view(status),
    }


@router.post(
    "/mcp/disconnect/{server_name}",
    summary="Disconnect one MCP server (it stays configured)",
    dependencies=[AdminInAuthMode],
    response_model=ServerDisconnected,
)
async def disconnect(server_name: str, runtime: RuntimeDep) -> dict[str, Any]:
    manager = runtime.mcp.manager
    was_connected = manager.server_status(server_name).state in (ConnectionState.CONNECTED, ConnectionState.CONNECTING)
    await manager.disconnect(server_name)
    if not was_connected:
        return {"status": "not_connected", "server": server_name, "message": "服务器未连接"}
    return {"status": "success", "server": server_name, "message": "断开连接成功"}


@router.get("/mcp/tools", summary="Tools of the connected MCP servers", response_model=dict[str, list[ToolView]])
async def list_tools(runtime: RuntimeDep) -> dict[str, list[dict[str, Any]]]:
    tools: dict[str, list[dict[str, Any]]] = {}
    for tool in runtime.mcp.manager.tools():
        tools.setdefault(tool.server, []).append(tool_view(tool))
    return tools


class ToolTest(BaseModel):
    server_name: str = Field(min_length=1)
    tool_name: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


@router.post(
    "/mcp/test-tool",
    summary="Call one tool (connecting its server if needed)",
    dependencies=[AdminInAuthMode],
    response_model=ToolCalled,
)
async def test_tool(request: ToolTest, runtime: RuntimeDep) -> dict[str, Any]:
    manager = runtime.mcp.manager
    if not manager.server_status(request.server_name).connected:
        await manager.connect(request.server_name, wait=True)
    result = await manager.call_tool(request.server_name, request.tool_name, request.params)
    return {
        "status": "error" if result.is_error else "success",
        "server_name": request.server_name,
        "tool_name": request.tool_name,
        "params": request.params,
        "result": result.text,
        "content": result.content,
        "structured_content": result.structured_content,
        "error": result.text if result.is_error else None,
        "execution_time": round(result.elapsed_ms / 1000, 4),
    }


# --- AI-generated tools (SPEC §11) -------------------------------------------------------------------


class ToolRegistration(BaseModel):
    """The original's body; its web client also sends ``port``, which is ignored."""

    folder_name: str = Field(description="The tool's name: its folder and its MCP server.", examples=["weather_tool"])
    script_files: dict[str, str] = Field(
        description="File name -> content; plain *.py names, the entry point is main.py.",
        examples=[{"main.py": "from mcp.server.mcpserver import MCPServer\n..."}],
    )
    readme: str = ""
    dependencies: str | list[str] = Field(
        default="",
        description="pip requirements: a list, or one string separated by white space (the original's form).",
        examples=["httpx>=0.27"],
    )

    def design(self) -> ToolDesign:
        dependencies = (
            parse_dependencies(self.dependencies) if isinstance(self.dependencies, str) else self.dependencies
        )
        return ToolDesign(
            folder_name=self.folder_name,
            script_files=self.script_files,
            dependencies=list(dependencies),
            readme=self.readme,
        )


def registered_tool_view(tool: RegisteredTool) -> dict[str, Any]:
    return {
        "name": tool.name,
        "folder": str(tool.folder),
        "entry_script": tool.entry_script,
        "dependencies": tool.dependencies,
        "connected": tool.connected,
        "tools": tool.tool_names,
    }


@router.get("/mcp/ai-generator-template", summary="The prompt template for generating an MCP tool with an LLM")
async def ai_generator_template(runtime: RuntimeDep) -> dict[str, str]:
    return {
        "template": generator_template(runtime.mcp.manager.tools()),
        "note": "将此模板作为系统提示词使用，在用户消息中描述您的需求 "
        "(use it as the system prompt; describe the requirement in the user message)",
    }


@router.post(
    "/mcp/register-tool",
    summary="Install an MCP tool (scripts + dependencies) in its own environment and connect it",
    dependencies=[AdminInAuthMode],
)
async def register_tool(request: ToolRegistration, runtime: RuntimeDep) -> dict[str, Any]:
    tool = await runtime.ai_tools.register(request.design())
    return {
        "status": "success",
        "message": f"MCP工具 '{tool.name}' 注册成功",
        "tool": registered_tool_view(tool),
    }


@router.get("/mcp/ai-tools", summary="Names of the registered AI-generated MCP tools")
async def list_ai_tools(runtime: RuntimeDep) -> list[str]:
    return [tool.name for tool in await runtime.ai_tools.list()]
