"""How LLM calls travel: the shared HTTP pool (``pool``), its asyncio network backend (``network``),
retries (``retry``) and the SSE stream parser (``sse``)."""
