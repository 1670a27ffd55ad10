"""Drives skilldex's /mcp endpoint with the official MCP Python SDK (`mcp` from PyPI):
initialize, list the tools, ping, then call the tools given as JSON, and print what the
SDK parsed as one JSON document.

usage: mcp_client.py URL TOKEN|- '[["tool", {args}], ...]'
"""
import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

url, token, calls = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])


async def main() -> None:
    headers = {} if token == "-" else {"Authorization": f"Bearer {token}"}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                tools = await session.list_tools()
                await session.send_ping()
                out = {
                    "protocolVersion": init.protocol_version,
                    "server": init.server_info.name,
                    "tools": {t.name: t.input_schema for t in tools.tools},
                    "calls": [],
                }
                for name, args in calls:
                    result = await session.call_tool(name, args)
                    out["calls"].append(result.model_dump(mode="json", by_alias=True, exclude_none=True))
    print(json.dumps(out))


asyncio.run(main())
