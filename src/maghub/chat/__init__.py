"""Chat with MCP tools (SPEC §8): turns that run the shared agent loop and persist as they go, and
the stored conversations their owners manage. Domain code: no HTTP, no SSE encoding."""
