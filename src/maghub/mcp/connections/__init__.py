"""Live MCP connections and their processes: one owner task per connection (``connection``, ``live``,
``session``, ``transports``), the live set (``manager``), stdio process trees, the lazily loaded SDK,
status and failure classification, timing policy, one-off probes."""
