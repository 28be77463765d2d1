"""Fixture MCP servers for tests, written with the MCP SDK's ``MCPServer``.

Each module runs as ``python -m maghub.testing.mcp_servers.<name> [--transport stdio|sse|streamable-http
--port N]``:

- ``toolbox``: one tool per behaviour the connection layer must cope with: ``echo``, ``add``,
  ``sleep`` (seconds), ``wait_for_cancel``/``call_state`` (did the client's cancel arrive?), ``fail``
  (ToolError), ``boom`` (unexpected exception), ``forecast`` (structured output), ``structured_only``
  (structured content, no content blocks), ``crash`` (``os._exit``), ``pid``, ``spawn_grandchild``
  (a long-lived child process; returns its pid), ``add_tool``/``remove_tool`` (change the tool list
  at runtime and announce it).
- ``noisy``: the toolbox, printing junk to stdout before it serves (as ``time-mcp`` does).
- ``legacy``: the toolbox over stdio speaking only the initialize-era protocol (as TypeScript and
  SDK 1.x servers do).

:mod:`.launch` starts the HTTP variants on a free loopback port; :mod:`.harness` has test helpers.
"""
