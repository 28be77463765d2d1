"""What a graph is: schema (``config``), documents, checks (``validation``), edges (``structure``), the
compiled form (``compile``), storage (``registry``) and READMEs (``readme``)."""
