"""ASGI apps maghub mounts beside its API: the web console (``console``), the demo LLM (``demo``) and
the MCP gateway (``gateway``)."""
