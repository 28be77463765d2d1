"""AI-generated MCP tools (stand-in: the ai-tools branch brings the package)."""
