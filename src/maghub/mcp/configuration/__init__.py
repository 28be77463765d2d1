"""MCP server configuration: the canonical form and its three dialects (``server_config``), and the hub's
advice on a configuration (``advice``)."""
