"""Graph configurations for the graph tests: terse builders and one graph exactly as the original web
client sends it (reference §13)."""

from __future__ import annotations

from typing import Any

from maghub.graphs.definition.config import GraphConfig
from maghub.testing.scripted_llm import Reply
from maghub.testing.sse import StreamTranscript


def node(name: str, inputs: list[str] | None = None, outputs: list[str] | None = None, **fields: Any) -> dict:
    return {"name": name, "model_name": "m", "input_nodes": inputs or [], "output_nodes": outputs or [], **fields}


def subgraph(name: str, graph: str, inputs: list[str] | None = None, outputs: list[str] | None = None, **fields: Any):
    return {
        "name": name,
        "is_subgraph": True,
        "subgraph_name": graph,
        "model_name": "",
        "input_nodes": inputs or [],
        "output_nodes": outputs or [],
        **fields,
    }


def graph(name: str, *nodes: dict, **fields: Any) -> dict:
    return {"name": name, "nodes": list(nodes), **fields}


def parsed(name: str, *nodes: dict, **fields: Any) -> GraphConfig:
    return GraphConfig.model_validate(graph(name, *nodes, **fields))


def linear(name: str = "linear") -> dict:
    return graph(name, node("A", ["start"], ["B"]), node("B", ["A"], ["C"]), node("C", ["B"], ["end"]))


def web_client_node(name: str, **fields: Any) -> dict:
    """A node with every field the web client sends, its defaults as it sends them."""
    return {
        "name": name,
        "description": "",
        "is_subgraph": False,
        "mcp_servers": [],
        "system_prompt": "",
        "user_prompt": "",
        "input_nodes": [],
        "output_nodes": [],
        "handoffs": None,
        "global_output": False,
        "context": [],
        "context_mode": "all",
        "context_n": 1,
        "output_enabled": True,
        "position": {"x": 120.5, "y": 80},
        "level": None,
        "save": "",
        "model_name": "m",
        "subgraph_name": None,
        **fields,
    }


def web_client_graph(name: str = "研究助手", subgraph_name: str = "helper") -> dict:
    """As the original web client posts a graph: a planner routing to a researcher or a subgraph node,
    a writer with context, levels null, unknown fields (is_start, is_end) and end_template ""."""
    return {
        "name": name,
        "description": "Plans, researches, writes.",
        "nodes": [
            web_client_node(
                "planner",
                input_nodes=["start"],
                output_nodes=["researcher", "helper_node"],
                handoffs=2,
                is_start=True,
                global_output=True,
                system_prompt="Plan the work for {start}.",
            ),
            web_client_node(
                "researcher",
                input_nodes=["planner"],
                output_nodes=["writer"],
                mcp_servers=["search"],
                context=["planner"],
                context_mode="latest_n",
                context_n=2,
                save=" .MD ",
            ),
            web_client_node(
                "helper_node",
                is_subgraph=True,
                model_name="",
                subgraph_name=subgraph_name,
                input_nodes=["planner"],
                output_nodes=["writer"],
            ),
            web_client_node(
                "writer",
                input_nodes=["researcher", "helper_node"],
                output_nodes=["end"],
                context=["planner"],
                context_mode="latest",
                is_end=True,
                user_prompt="Write it up: {researcher}\n{helper_node}",
            ),
        ],
        "end_template": "",
    }


# ---- running graphs against the scripted LLM


def node_of(body: dict[str, Any]) -> str:
    """Each test node's system prompt is "You are <name>."; title requests have none."""
    messages = body.get("messages") or []
    if messages and messages[0].get("role") == "system":
        return messages[0]["content"].removeprefix("You are ").removesuffix(".")
    return ""


def agent(name: str, inputs: list[str] | None = None, outputs: list[str] | None = None, **fields: Any) -> dict:
    return node(name, inputs, outputs, system_prompt=f"You are {name}.", **fields)


def answer_with_name(body: dict[str, Any]) -> Reply:
    return Reply(content=f"out-{node_of(body)}", usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})


def blocks(stream: StreamTranscript) -> list[str]:
    """Node names in the order their blocks appear; asserts each block is contiguous."""
    order: list[str] = []
    current: str | None = None
    for event in stream.payloads:
        name = event.get("node_name")
        if event.get("type") == "node_start":
            assert current is None, f"block of {name} starts inside the block of {current}"
            current = name
            order.append(name)
        elif event.get("type") == "node_end":
            assert current == name
            current = None
        elif name is not None and name != "start":
            assert name == current, f"event of {name} outside its block"
    return order
