"""Sharing graphs: zip ``packages`` read safely, their ``transfer`` against the registries, and
``mcp_export`` (a graph as a standalone MCP server script)."""
