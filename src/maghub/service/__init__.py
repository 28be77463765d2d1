"""The running service: the composition root (``runtime``), the uvicorn server (``server``), what is in
flight and graceful shutdown (``lifecycle``), and keeping the garbage collector from pausing it (``heap``)."""
