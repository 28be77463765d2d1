"""Resources and prompts of connected servers, passed through the gateway (SPEC §13).

Prompt names become ``server__prompt``; resource names become ``server__name`` while their URIs stay
as the server wrote them (a URI must stay a URI), so a read goes to the server that listed it.
Imports the MCP SDK: only the gateway's server module imports this one, after the SDK is loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import mcp_types as types
from mcp.shared.exceptions import MCPError

from maghub.errors import MaghubError
from maghub.gateway.caller import GatewayPart
from maghub.gateway.catalog import SEPARATOR, connected_servers, split_namespaced
from maghub.mcp.connections.live import LiveSession
from maghub.mcp.connections.manager import MCPManager
from maghub.mcp.connections.session import MAX_TOOL_PAGES

log = logging.getLogger(__name__)
T = TypeVar("T")


class Passthrough:
    def __init__(self, manager: MCPManager) -> None:
        self._manager = manager

    async def _each(
        self,
        part: GatewayPart,
        wants: Callable[[types.ServerCapabilities], Any],
        ask: Callable[[LiveSession], Awaitable[T]],
    ) -> list[tuple[str, T]]:
        """``ask`` every connected server of ``part`` whose capabilities ``wants``; one that fails is
        left out of the answer (and logged), not allowed to fail the whole list."""
        answers: list[tuple[str, T]] = []
        for server in connected_servers(self._manager, part):
            try:
                live = self._manager.live_session(server)
                if not wants(live.client.server_capabilities):
                    continue
                with anyio.fail_after(self._manager.policy.request_timeout):
                    answers.append((server, await ask(live)))
            except (MCPError, MaghubError, TimeoutError) as exc:
                log.info("gateway: server left out of a list: %s", exc, extra={"server": server})
        return answers

    async def list_resources(self, part: GatewayPart) -> types.ListResourcesResult:
        answers = await self._each(part, lambda c: c.resources, _all_resources)
        resources = [
            resource.model_copy(update={"name": f"{server}{SEPARATOR}{resource.name}"})
            for server, listed in answers
            for resource in listed
        ]
        return types.ListResourcesResult(resources=resources)

    async def list_resource_templates(self, part: GatewayPart) -> types.ListResourceTemplatesResult:
        answers = await self._each(part, lambda c: c.resources, lambda live: live.client.list_resource_templates())
        templates = [
            template.model_copy(update={"name": f"{server}{SEPARATOR}{template.name}"})
            for server, listed in answers
            for template in listed.resource_templates
        ]
        return types.ListResourceTemplatesResult(resource_templates=templates)

    async def read_resource(self, part: GatewayPart, uri: str) -> types.ReadResourceResult:
        """Read ``uri`` from the server that lists it; when none does (a templated URI), from the first
        server that can read it."""
        listed = await self._each(part, lambda c: c.resources, _all_resources)
        owners = [server for server, resources in listed if any(str(r.uri) == uri for r in resources)]
        candidates = owners or [server for server, _ in listed]
        last_error: MCPError | None = None
        for server in candidates:
            live = self._manager.live_session(server)
            try:
                with anyio.fail_after(live_timeout(self._manager, server)):
                    return await live.client.read_resource(uri)
            except MCPError as exc:
                last_error = exc
            except TimeoutError:
                raise MCPError(types.INTERNAL_ERROR, f"Server '{server}' did not answer in time.") from None
        if last_error is not None and owners:
            raise last_error
        raise MCPError(types.INVALID_PARAMS, f"No connected server offers the resource {uri!r}; see resources/list.")

    async def list_prompts(self, part: GatewayPart) -> types.ListPromptsResult:
        answers = await self._each(part, lambda c: c.prompts, _all_prompts)
        prompts = [
            prompt.model_copy(update={"name": f"{server}{SEPARATOR}{prompt.name}"})
            for server, listed in answers
            for prompt in listed
        ]
        return types.ListPromptsResult(prompts=prompts)

    async def get_prompt(self, part: GatewayPart, name: str, arguments: dict[str, str] | None) -> types.GetPromptResult:
        route = split_namespaced(self._manager, part, name)
        if route is None:
            raise MCPError(
                types.INVALID_PARAMS, f"Unknown prompt {name!r}: prompts/list names the prompts (server__prompt)."
            )
        server, prompt = route
        live = self._manager.live_session(server)
        try:
            with anyio.fail_after(live_timeout(self._manager, server)):
                return await live.client.get_prompt(prompt, arguments)
        except TimeoutError:
            raise MCPError(types.INTERNAL_ERROR, f"Server '{server}' did not answer in time.") from None


def live_timeout(manager: MCPManager, server: str) -> float:
    return manager.config(server).timeout


async def _all_resources(live: LiveSession) -> list[types.Resource]:
    return await _all_pages(lambda cursor: live.client.list_resources(cursor=cursor, cache_mode="bypass"), "resources")


async def _all_prompts(live: LiveSession) -> list[types.Prompt]:
    return await _all_pages(lambda cursor: live.client.list_prompts(cursor=cursor, cache_mode="bypass"), "prompts")


async def _all_pages(fetch: Callable[[str | None], Awaitable[Any]], field: str) -> list[Any]:
    """Every item of a paginated listing, at most MAX_TOOL_PAGES pages (as for tools: a server whose
    cursor never ends cannot hang the gateway)."""
    items: list[Any] = []
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        page = await fetch(cursor)
        items.extend(getattr(page, field))
        cursor = page.next_cursor
        if not cursor:
            break
    return items
