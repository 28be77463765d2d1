"""The default order of a graph run's events (SPEC §7): each node execution's events as one
contiguous block ``node_start … node_end``, blocks in the order the nodes started. Execution stays
parallel; only what a sequential client (the original web client) sees is ordered."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator

from maghub.graphs.running.events import NodeFailed, NodeFinished, NodeStarted, RunEvent, RunFinished


async def per_node_blocks(events: AsyncIterator[RunEvent]) -> AsyncIterator[RunEvent]:
    started: deque[int] = deque()  # executions in start order whose blocks are not fully out yet
    held: dict[int, list[RunEvent]] = {}
    ended: set[int] = set()
    run_level: list[RunEvent] = []  # events of no node, sent when no block is open

    def flush() -> list[RunEvent]:
        out: list[RunEvent] = []
        while started:
            head = started[0]
            out.extend(held.pop(head, []))
            if head not in ended:
                held[head] = []
                return out
            started.popleft()
            ended.discard(head)
        out.extend(run_level)
        run_level.clear()
        return out

    def drain() -> list[RunEvent]:
        out = [event for execution in started for event in held.pop(execution, [])]
        started.clear()
        return [*out, *run_level]

    async for event in events:
        execution = getattr(event, "execution", None)
        if isinstance(event, RunFinished):  # nothing more will come: every block goes out as it is
            for ready in drain():
                yield ready
            run_level.clear()
            yield event
            continue
        if execution is None:
            run_level.append(event)
        else:
            if isinstance(event, NodeStarted):
                started.append(execution)
            held.setdefault(execution, []).append(event)
            if isinstance(event, NodeFinished | NodeFailed):
                ended.add(execution)
        for ready in flush():
            yield ready
