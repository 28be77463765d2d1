"""What a node's model reads (SPEC §6 "Node input", reference §5.4): its prompts with ``{name}``
placeholders filled from its inputs and context, and ``{file.ext}`` from its graph's prompt files."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from maghub.graphs.definition.compile import CompiledGraph, CompiledNode

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def node_values(
    node: CompiledNode, latest: Callable[[str], str | None], global_outputs: Mapping[str, Sequence[str]]
) -> dict[str, str]:
    """Name → text: each input's latest output (empty ones left out), then each context node's
    global outputs as ``context_mode`` selects them (replacing an input of the same name)."""
    values: dict[str, str] = {}
    for source in node.inputs:
        text = latest(source.node)
        if text:
            values[source.name] = text
    limit = node.config.context_limit
    for source in node.context:
        outputs = list(global_outputs.get(source.node, ()))
        if limit is not None:
            outputs = outputs[-limit:] if limit > 0 else []
        if outputs:
            values[source.name] = "\n\n".join(outputs)
    return values


def joined_input(values: Mapping[str, str]) -> str:
    return "\n\n".join(values.values())


def node_messages(graph: CompiledGraph, node: CompiledNode, values: Mapping[str, str]) -> list[dict[str, Any]]:
    """``[system?, user]`` for one execution of ``node``."""
    used: set[str] = set()

    def fill(text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            key = match.group(1)
            if "." in key:  # node names cannot contain ".": a prompt file
                content = graph.prompt_file(node, key)
                return match.group(0) if content is None else content
            if key in values:
                used.add(key)
                return values[key]
            return match.group(0)  # any other brace text stays as written

        return _PLACEHOLDER.sub(replace, text)

    messages: list[dict[str, Any]] = []
    system = node.config.system_prompt
    if system.strip():
        messages.append({"role": "system", "content": fill(system)})
    prompt = node.config.user_prompt
    if prompt.strip():
        user = fill(prompt)
        rest = [text for name, text in values.items() if name not in used and text.strip()]
        if rest:
            separator = "" if user.endswith("\n") else "\n\n"
            user = f"{user}{separator}" + "\n\n".join(rest)
    else:
        user = joined_input(values)
    messages.append({"role": "user", "content": user})
    return messages
