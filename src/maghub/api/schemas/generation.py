from __future__ import annotations

from maghub.api.schemas import Open


class UnavailableServer(Open):
    name: str
    state: str


class PromptTemplate(Open):
    """A design prompt filled with the models and the tools of the connected MCP servers."""

    prompt: str
    unavailable_servers: list[UnavailableServer]
    """Configured servers that are not connected now: their tools are not in the prompt."""
    note: str | None = None


class OptimizePromptTemplate(PromptTemplate):
    has_graph_config: bool
    graph_name: str | None = None
