"""Agent graphs: the configuration schema (``config``), its checks (``validation``), the compiled form a
run executes (``compile``), storage with versions (``registry``) and READMEs (``readme``)."""
