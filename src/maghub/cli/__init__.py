"""The ``maghub`` command line: ``app`` builds the command tree; one module per command group."""
