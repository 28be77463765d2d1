"""Agent graphs, in three layers:

- ``definition``: the configuration schema, its checks, the compiled form a run executes, storage with
  versions, READMEs;
- ``running``: the dataflow scheduler, the engine that runs a turn, run storage, the run manager, events;
- ``sharing``: zip packages (import/export) and a graph as a standalone MCP server script.
"""
