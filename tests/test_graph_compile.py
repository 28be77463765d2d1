"""Compiling graphs for a run (SPEC §6): edges, routing and back edges, levels, join sets, loops'
reactivation sets, handoff targets, and subgraphs expanded as ``parent/inner`` nodes."""

from __future__ import annotations

import dataclasses

import pytest
from graph_samples import GraphConfig, linear, node, parsed, subgraph

from maghub.graphs.definition.compile import RUN_INPUT, CompiledGraph, HandoffTarget, NodeInput, NodeKind, compile_graph
from maghub.graphs.definition.validation import GraphValidationError


def levels(compiled: CompiledGraph) -> dict[str, int]:
    return {name: item.level for name, item in compiled.nodes.items()}


def joins(compiled: CompiledGraph) -> dict[str, set[str]]:
    return {name: set(item.forward_predecessors) for name, item in compiled.nodes.items()}


def edges(compiled: CompiledGraph) -> set[tuple[str, str, bool, bool]]:
    return {(edge.source, edge.target, edge.routing, edge.back) for edge in compiled.edges}


def test_linear() -> None:
    compiled = compile_graph(GraphConfig.model_validate(linear()), {})
    assert levels(compiled) == {"A": 0, "B": 1, "C": 2}
    assert joins(compiled) == {"A": set(), "B": {"A"}, "C": {"B"}}
    assert compiled.order == ("A", "B", "C") and compiled.end_writers == ("C",)
    assert compiled.nodes["A"].reads_start and not compiled.nodes["B"].reads_start
    assert compiled.nodes["A"].inputs == (NodeInput("start", RUN_INPUT),)
    assert compiled.reactivation == {} and all(not edge.routing for edge in compiled.edges)


def test_diamond_joins_both_branches() -> None:
    # Edges declared from either side: B lists A as input only, C is only in A's outputs.
    config = parsed(
        "diamond",
        node("A", ["start"], ["C"]),
        node("B", ["A"], ["D"]),
        node("C", [], []),
        node("D", ["C"], ["end"], user_prompt="{B} and {C}"),
    )
    compiled = compile_graph(config, {})
    assert levels(compiled) == {"A": 0, "B": 1, "C": 1, "D": 2}
    assert joins(compiled)["D"] == {"B", "C"}
    assert [item.name for item in compiled.nodes["D"].inputs] == ["C", "B"]
    assert compiled.order == ("A", "B", "C", "D")


def test_router_edges_are_routing_and_forward_and_its_targets_are_the_tools() -> None:
    config = parsed(
        "router",
        node("R", ["start"], ["X", "Y", "end"], handoffs=1),
        node("X", [], ["end"], description="Does X."),
        node("Y", [], ["end"], description="Does Y."),
    )
    compiled = compile_graph(config, {})
    # The original put router targets that do not list the router as input at level 0.
    assert levels(compiled) == {"R": 0, "X": 1, "Y": 1}
    assert edges(compiled) == {("R", "X", True, False), ("R", "Y", True, False)}
    assert compiled.nodes["R"].handoff_targets == (
        HandoffTarget("X", "X", "Does X.", back=False),
        HandoffTarget("Y", "Y", "Does Y.", back=False),
    )
    assert compiled.nodes["R"].handoffs == 1 and compiled.nodes["R"].writes_end
    assert compiled.end_writers == ("R", "X", "Y")


def test_loop_back_edge_and_what_it_reactivates() -> None:
    config = parsed(
        "loop",
        node("A", ["start"], ["B"]),
        node("B", ["A"], ["A", "C"], handoffs=2),
        node("C", [], ["end"]),
        node("D", ["C"], ["end"]),
    )
    compiled = compile_graph(config, {})
    assert edges(compiled) == {
        ("A", "B", False, False),
        ("B", "A", True, True),
        ("B", "C", True, False),
        ("C", "D", False, False),
    }
    assert levels(compiled) == {"A": 0, "B": 1, "C": 2, "D": 3}
    assert joins(compiled)["A"] == set()  # a back edge is not part of the join set
    assert compiled.reactivation == {"A": frozenset({"A", "B", "C", "D"})}
    assert [target.back for target in compiled.nodes["B"].handoff_targets] == [True, False]


def test_node_reached_only_by_a_back_edge_has_no_forward_inputs() -> None:
    config = parsed(
        "retry",
        node("A", ["start", "T"], ["H"]),
        node("H", [], ["T", "end"], handoffs=1),
        node("T", [], []),
    )
    compiled = compile_graph(config, {})
    assert ("H", "T", True, True) in edges(compiled) and ("T", "A", False, False) in edges(compiled)
    assert joins(compiled) == {"A": {"T"}, "H": {"A"}, "T": set()}
    assert not compiled.nodes["T"].reads_start
    assert compiled.reactivation["T"] == frozenset({"T", "A", "H"})


def test_subgraphs_two_deep_expand_into_parent_inner_nodes() -> None:
    leaf = parsed("leaf", node("L", ["start"], ["end"], system_prompt="{start} {notes.md}"))
    middle = parsed(
        "middle",
        node("M", ["start"], ["T"]),
        subgraph("T", "leaf", [], ["N"]),
        node("N", [], ["end"]),
        end_template="{N} / {M}",
    )
    top = parsed(
        "top",
        node("A", ["start"], ["S"]),
        subgraph("S", "middle", [], ["B"], global_output=True),
        node("B", ["S"], ["end"], user_prompt="{S}"),
    )
    compiled = compile_graph(
        top,
        {"middle": middle, "leaf": leaf},
        versions={"top": 3, "middle": 1, "leaf": 2},
        prompt_files={"leaf": {"notes.md": "leaf notes"}, "top": {"notes.md": "top notes"}},
    )
    assert list(compiled.nodes) == ["A", "S/start", "S/M", "S/T/start", "S/T/L", "S/T", "S/N", "S", "B"]
    kinds = {name: item.kind for name, item in compiled.nodes.items()}
    assert kinds["S/start"] == kinds["S/T/start"] == NodeKind.SUBGRAPH_INPUT
    assert kinds["S"] == kinds["S/T"] == NodeKind.SUBGRAPH_OUTPUT and kinds["S/T/L"] == NodeKind.AGENT
    # Pass-through nodes add no depth: A, M, L, N, B are 0, 1, 2, 3, 4 deep.
    assert levels(compiled) == {
        "A": 0, "S/start": 1, "S/M": 1, "S/T/start": 2, "S/T/L": 2, "S/T": 3, "S/N": 3, "S": 4, "B": 4
    }  # fmt: skip
    assert joins(compiled) == {
        "A": set(), "S/start": {"A"}, "S/M": {"S/start"}, "S/T/start": {"S/M"}, "S/T/L": {"S/T/start"},
        "S/T": {"S/T/L"}, "S/N": {"S/T"}, "S": {"S/N"}, "B": {"S"},
    }  # fmt: skip
    inner = compiled.nodes["S/T/L"]
    assert inner.inputs == (NodeInput("start", "S/T/start"),) and inner.scope == "S/T" and inner.local_name == "L"
    assert compiled.prompt_file(inner, "notes.md") == "leaf notes"
    assert compiled.prompt_file(compiled.nodes["A"], "notes.md") == "top notes"
    assert compiled.nodes["S/start"].inputs == (NodeInput("A", "A"),) and compiled.nodes["S/start"].inner_scope == "S"
    assert compiled.nodes["S"].inputs == (NodeInput("N", "S/N"),) and compiled.nodes["S"].config.global_output
    assert compiled.nodes["B"].inputs == (NodeInput("S", "S"),)
    scope = compiled.scopes["S"]
    assert (scope.graph_name, scope.input_node, scope.output_node, scope.end_writers) == (
        "middle",
        "S/start",
        "S",
        ("S/N",),
    )
    assert scope.end_template == "{N} / {M}" and scope.names["M"] == "S/M" and scope.names["start"] == "S/start"
    assert compiled.end_writers == ("B",) and compiled.versions["leaf"] == 2
    assert compiled.model_names() == {"m"}


def test_a_handoff_into_a_subgraph_activates_its_input_node() -> None:
    inner = parsed("inner", node("X", ["start"], ["end"]))
    top = parsed(
        "top",
        node("H", ["start"], ["S", "end"], handoffs=1),
        subgraph("S", "inner", [], ["H"]),
    )
    compiled = compile_graph(top, {"inner": inner})
    (target,) = compiled.nodes["H"].handoff_targets
    assert (target.name, target.node, target.back) == ("S", "S/start", True)
    assert edges(compiled) == {
        ("H", "S/start", True, True),
        ("S/start", "S/X", False, False),
        ("S/X", "S", False, False),
        ("S", "H", False, False),
    }
    # S/start waits for H's choice: in a pass without it, it has no inputs and counts as skipped.
    assert joins(compiled) == {"H": {"S"}, "S/start": set(), "S/X": {"S/start"}, "S": {"S/X"}}
    assert compiled.nodes["H"].reads_start and not compiled.nodes["S/start"].reads_start
    assert compiled.reactivation["S/start"] == frozenset({"S/start", "S/X", "S", "H"})


def test_compile_refuses_missing_invalid_and_cyclic_subgraphs() -> None:
    top = parsed("top", node("A", ["start"], ["S"]), subgraph("S", "inner", [], ["end"]))
    with pytest.raises(GraphValidationError) as missing:
        compile_graph(top, {})
    assert [(p.node, p.field) for p in missing.value.problems] == [("S", "subgraph_name")]
    assert "no graph named 'inner'" in str(missing.value)

    broken = parsed("inner", node("X", ["start"], []))
    with pytest.raises(GraphValidationError) as invalid:
        compile_graph(top, {"inner": broken})
    assert [(p.node, p.field) for p in invalid.value.problems] == [("S", "output_nodes")]
    assert "(in graph 'inner') no node writes 'end'" in str(invalid.value)

    loop = parsed("inner", node("X", ["start"], ["back"]), subgraph("back", "top", [], ["end"]))
    with pytest.raises(GraphValidationError) as cyclic:
        compile_graph(top, {"inner": loop})
    assert "top → inner → top" in str(cyclic.value)


def test_compiled_graph_is_immutable_and_lists_unknown_references() -> None:
    config = parsed("g", node("A", ["start"], ["end"], mcp_servers=["search", "time"], model_name="gpt"))
    compiled = compile_graph(config, {})
    with pytest.raises(TypeError):
        compiled.nodes["B"] = compiled.nodes["A"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        compiled.nodes["A"].level = 3  # type: ignore[misc]
    problems = compiled.unknown_references(models={"m"}, mcp_servers={"time"})
    assert [(p.node, p.field) for p in problems] == [("A", "model_name"), ("A", "mcp_servers")]
    assert compiled.unknown_references(models={"gpt"}, mcp_servers={"search", "time"}) == []
