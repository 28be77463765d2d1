"""A run's (or a subgraph's) result and execution chain (SPEC §6 "Final result", reference §5.8)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from maghub.graphs.definition.compile import Scope

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
MANY_SEPARATOR = "\n\n---\n\n"


def scope_result(
    scope: Scope,
    latest: Callable[[str], str | None],
    ran: Callable[[str], bool],
    history: Callable[[str], Sequence[str]],
) -> str:
    """``scope``'s ``end_template`` filled in, or the outputs of its nodes writing ``end`` that ran
    in their last pass, in configuration order, joined by a blank line.

    ``latest(node)`` is a node's output in this turn (None if it did not run), ``ran(node)`` whether
    its last pass ran (not skipped), ``history(node)`` its outputs kept across turns (global outputs,
    else this turn's passes)."""
    if scope.end_template:
        return fill_end_template(scope.end_template, scope.names, latest, history)
    outputs = [latest(node) or "" for node in scope.end_writers if ran(node)]
    return "\n\n".join(output for output in outputs if output)


def fill_end_template(
    template: str,
    names: Mapping[str, str],
    latest: Callable[[str], str | None],
    history: Callable[[str], Sequence[str]],
) -> str:
    """``{node}``, ``{node:all}``, ``{node:N}`` and ``{start}`` substituted; any other brace text
    (a JSON example, say) left as written."""

    def replace(match: re.Match[str]) -> str:
        name, _, mode = match.group(1).partition(":")
        node = names.get(name.strip())
        if node is None:
            return match.group(0)
        mode = mode.strip()
        if mode == "all" or (mode.isdigit() and int(mode) > 1):
            outputs = list(history(node))
            selected = outputs if mode == "all" else outputs[-int(mode) :]
            return MANY_SEPARATOR.join(selected)
        current = latest(node)
        if current is not None:
            return current
        earlier = history(node)
        return earlier[-1] if earlier else ""

    return _PLACEHOLDER.sub(replace, template)


def execution_chain(executions: Sequence[tuple[str, int]]) -> list[list[str]]:
    """Node names grouped by runs of equal level, in the order they started (the original's shape:
    ``[["start", "A"], ["B", "C"], ["D"]]``); a loop repeats groups."""
    chain: list[list[str]] = []
    last_level: int | None = None
    for name, level in executions:
        if chain and level == last_level:
            if name not in chain[-1]:
                chain[-1].append(name)
        else:
            chain.append([name])
        last_level = level
    return chain
