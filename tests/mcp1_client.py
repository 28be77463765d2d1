"""Run by an SDK 1.x Python (a throwaway venv, never maghub's): list the gateway's tools and call the
named ones, printing what came back as JSON. Usage: python mcp1_client.py URL TOOL JSON_ARGS [...]"""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client


async def main(url: str, calls: list[str]) -> None:
    report = {}
    async with streamablehttp_client(url) as (read, write, _), ClientSession(read, write) as session:
        init = await session.initialize()
        report["protocol_version"] = init.protocolVersion
        report["tools"] = [tool.name for tool in (await session.list_tools()).tools]
        report["calls"] = []
        for name, arguments in zip(calls[::2], calls[1::2], strict=False):
            result = await session.call_tool(name, json.loads(arguments))
            report["calls"].append(result.model_dump(mode="json", by_alias=True, exclude_none=True))
    print(json.dumps(report))


asyncio.run(main(sys.argv[1], sys.argv[2:]))
