"""The in-process MCP connection layer, in three parts:

- ``configuration``: server configs in the three dialects, and the hub's advice on one;
- ``connections``: one owner task per live connection with reconnects, processes, probes;
- at this level: the registry (stored configs to live connections), tools as offered to an LLM,
  tool-call results, and the layer's errors.

Domain code: no HTTP. Importing this package does not import the MCP SDK; connections and probes
load it when they first need it (see :mod:`maghub.mcp.connections.sdk`).
"""
