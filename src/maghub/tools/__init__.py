"""AI-generated MCP tools (SPEC §11): each a folder under ``<data dir>/tools/`` with its scripts, its
own virtual environment (made with uv) and a stdio MCP server entry marked ``ai_generated``."""
