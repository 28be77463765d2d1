"""Open a ready-to-use MCP session: transport, SDK client, handshake and tool list, in one step.

Shared by the long-lived connections and by one-off probes. Leaving the block closes everything
(for stdio: ends the server's process tree). Callers bound the time it may take themselves, with a
cancel scope around the whole block: the SDK's cancel scopes must nest, so a timeout cannot wrap
just the opening.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import mcp_types
from mcp import Client
from mcp.client.session import MessageHandlerFnT

from maghub import __version__
from maghub.mcp.configuration.server_config import ServerConfig
from maghub.mcp.tools import ToolSpec
from maghub.mcp.connections.transports import Link, LinkAttempt, open_link

CLIENT_INFO = mcp_types.Implementation(name="maghub", version=__version__)
MAX_TOOL_PAGES = 100  # a server whose cursor never ends cannot hang a listing

MessageHandler = MessageHandlerFnT


@dataclass
class Session:
    client: Client
    link: Link
    tools: tuple[ToolSpec, ...]


async def list_all_tools(client: Client, server: str) -> tuple[ToolSpec, ...]:
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tuple(ToolSpec.from_mcp(server, tool) for tool in tools)


@asynccontextmanager
async def open_session(
    config: ServerConfig,
    attempt: LinkAttempt,
    *,
    kill_grace: float,
    owner: str | None = None,
    message_handler: MessageHandler | None = None,
    sampling_callback: Any = None,
    list_roots_callback: Any = None,
) -> AsyncIterator[Session]:
    async with open_link(config, attempt, kill_grace=kill_grace, owner=owner) as link:
        # mode="auto": the 2026 protocol with servers that offer it, the initialize handshake with all
        # others — except for servers set up to ask maghub for sampling or roots: a 2026-07-28
        # connection cannot carry a server's requests to its client. No response cache: maghub keeps
        # the tool list itself and refreshes it on changes.
        client = Client(
            nullcontext(link.streams),
            mode="legacy" if config.asks_back else "auto",
            cache=None,
            client_info=CLIENT_INFO,
            message_handler=message_handler,
            sampling_callback=sampling_callback,
            list_roots_callback=list_roots_callback,
        )
        async with client:
            yield Session(client=client, link=link, tools=await list_all_tools(client, config.name))
