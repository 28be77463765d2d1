"""Keeping Python's garbage collector from pausing the server.

A full collection walks every object the collector tracks. With the web, database and LLM stacks
loaded that is hundreds of thousands of objects that live as long as the process (modules,
classes, schemas, compiled statements), and a full collection took 120-140 ms on a 2-core VM,
stalling every stream at once (measured with 100 concurrent chats). Freezing moves the objects
alive at that moment out of the collector's reach; collections then walk only what requests
create. Freeze at moments when the heap holds mostly such long-lived objects: after startup, and
after loading a large library on first use. ``bench/chat_stream.py`` (100 concurrent chats) shows
the stall when this is removed.
"""

from __future__ import annotations

import gc


def freeze_long_lived_objects() -> None:
    # Collect first: garbage that is frozen is never freed. After the first freeze a collection
    # walks only what was created since, so this stays cheap.
    gc.collect()
    gc.freeze()
