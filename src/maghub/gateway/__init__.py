"""maghub as an MCP server (SPEC §13 "Gateway"): every graph as a tool, every connected server's tools,
resources and prompts passed through, over streamable HTTP. ``maghub.api.mounts.gateway`` mounts it."""
