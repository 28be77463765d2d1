"""Graph configuration: what is accepted (every shape the original web client sends) and every
validation problem, reported all at once with the node and field to fix (SPEC §2 rule 2, §5)."""

from __future__ import annotations

import pytest
from graph_samples import graph, linear, node, parsed, subgraph, web_client_graph

from maghub.graphs.definition.config import GraphConfig, GraphDocument
from maghub.graphs.definition.documents import parse_document
from maghub.graphs.definition.validation import (
    Catalog,
    GraphProblem,
    GraphValidationError,
    require_valid,
    validate_document,
    validate_graph,
)


def errors(config: GraphConfig, catalog: Catalog | None = None) -> list[GraphProblem]:
    return list(validate_graph(config, catalog).errors)


def where(problems: list[GraphProblem]) -> list[tuple[str | None, str]]:
    return [(problem.node, problem.field) for problem in problems]


def test_a_web_client_graph_is_accepted_as_sent_and_remembered_exactly() -> None:
    sent = web_client_graph()
    config = GraphConfig.model_validate(sent)
    report = validate_graph(config, Catalog(graphs={"helper": set()}))
    assert report.errors == ()
    assert config.submitted() == sent  # unknown fields, nulls, "" and the raw save value, all as sent
    planner, researcher, helper, writer = config.nodes
    assert planner.is_router and planner.handoffs == 2 and planner.model_extra == {"is_start": True}
    assert researcher.save == "md" and researcher.context_limit == 2
    assert helper.is_subgraph and helper.model_name is None and helper.subgraph_name == "helper"
    assert writer.context_limit == 1 and writer.level is None
    assert config.end_template is None


@pytest.mark.parametrize(
    ("mode", "n", "limit"),
    [("all", None, None), ("latest", None, 1), ("latest_n", 3, 3), ("4", None, 4), (5, None, 5), (None, None, None)],
)
def test_every_context_mode_is_understood(mode: object, n: int | None, limit: int | None) -> None:
    config = parsed(
        "g", node("A", ["start"], ["end"], context=["A"], global_output=True, context_mode=mode, context_n=n)
    )
    assert errors(config) == []
    assert config.nodes[0].context_limit == limit


@pytest.mark.parametrize(
    ("mode", "n", "field"),
    [
        ("0", None, "context_mode"),
        ("newest", None, "context_mode"),
        ("latest_n", None, "context_n"),
        ("latest_n", 0, "context_n"),
    ],
)
def test_bad_context_modes_say_what_is_accepted(mode: str, n: int | None, field: str) -> None:
    problems = errors(parsed("g", node("A", ["start"], ["end"], context_mode=mode, context_n=n)))
    assert where(problems) == [("A", field)]
    assert "latest_n" in problems[0].message


def test_lenient_values_the_original_accepted() -> None:
    config = parsed(
        "g",
        node(
            "A",
            ["start"],
            ["end"],
            level="not a number",
            handoffs=None,
            mcp_servers=None,
            description=None,
            system_prompt=None,
            context=None,
            output_enabled=None,
            position={"x": 1, "y": 2, "z": "kept"},
        ),
        end_template="   ",
    )
    assert errors(config) == []
    only = config.nodes[0]
    assert only.level is None and only.mcp_servers == () and only.description == "" and only.output_enabled
    assert config.end_template is None


@pytest.mark.parametrize("bad", ["../../x", "md/../../x", "/etc/passwd", "a.b", "md!", "m d", "\\x", "x" * 17, "."])
def test_a_save_extension_that_is_not_a_plain_extension_is_refused_not_rewritten(bad: str) -> None:
    config = parsed("g", node("A", ["start"], ["end"], save=bad))
    problems = errors(config)
    assert where(problems) == [("A", "save")] and "plain file extension" in problems[0].message
    assert config.nodes[0].save == bad  # kept as sent: nothing silently turns it into another name


@pytest.mark.parametrize(
    ("sent", "extension"), [("md", "md"), (" .MD ", "md"), ("TXT", "txt"), ("", None), (None, None)]
)
def test_a_plain_save_extension_is_accepted_in_any_case_with_or_without_its_dot(
    sent: str | None, extension: str | None
) -> None:
    config = parsed("g", node("A", ["start"], ["end"], save=sent))
    assert errors(config) == [] and config.nodes[0].save == extension


@pytest.mark.parametrize("bad", ["a/b", "a\\b", "a.b", "{a}", "a}", "", "  ", " padded", "tab\there"])
def test_names_that_could_become_paths_or_placeholders_are_rejected(bad: str) -> None:
    graph_problems = errors(GraphConfig.model_validate(linear(bad)))
    assert ("name" in [field for _, field in where(graph_problems)]) and graph_problems[0].node is None
    node_problems = errors(parsed("g", node(bad, ["start"], ["end"])))
    assert [field for _, field in where(node_problems)] == ["name"]
    assert "must" in node_problems[0].message


def test_reserved_and_duplicate_node_names() -> None:
    problems = errors(parsed("g", node("start", [], ["end"]), node("A", ["start"], ["end"]), node("A", ["start"])))
    assert where(problems) == [("start", "name"), ("A", "name")]
    assert "reserved" in problems[0].message and "unique" in problems[1].message


def test_unknown_names_in_edges_and_context_list_the_real_nodes() -> None:
    problems = errors(
        parsed(
            "g",
            node("A", ["start", "ghost", "end"], ["B", "phantom", "start"], context=["nobody", "end"]),
            node("B", ["A"], ["end"]),
        )
    )
    assert where(problems) == [
        ("A", "input_nodes"),
        ("A", "input_nodes"),
        ("A", "output_nodes"),
        ("A", "output_nodes"),
        ("A", "context"),
        ("A", "context"),
    ]
    assert "'ghost' is not a node of this graph (its nodes: A, B)" in problems[0].message
    assert "'end' can only be an output" in problems[1].message
    assert "'start' can only be an input" in problems[3].message


def test_a_graph_needs_a_reader_of_start_and_a_writer_of_end() -> None:
    problems = errors(parsed("g", node("A", [], ["B"]), node("B", ["A"], [])))
    assert where(problems) == [(None, "input_nodes"), (None, "output_nodes")]
    assert "no node reads 'start'" in problems[0].message and "no node writes 'end'" in problems[1].message
    assert where(errors(parsed("empty"))) == [(None, "nodes")]


def test_a_loop_needs_a_routing_edge() -> None:
    plain = parsed("g", node("A", ["start"], ["B"]), node("B", [], ["C"]), node("C", [], ["A", "end"]))
    problems = errors(plain)
    assert where(problems) == [("A", "handoffs")]
    assert "A → B → C → A is a loop of plain edges" in problems[0].message and "handoffs" in problems[0].message
    routed = parsed("g", node("A", ["start"], ["B"]), node("B", [], ["C"]), node("C", [], ["A", "end"], handoffs=0))
    assert errors(routed) == []
    # An edge declared only on the target's side closes a loop just the same.
    self_loop = parsed("g", node("A", ["start", "A"], ["end"]))
    assert "A → A" in errors(self_loop)[0].message


def test_subgraph_nodes_must_name_another_existing_graph_without_cycles() -> None:
    catalog = Catalog(graphs={"leaf": set(), "middle": {"top"}})
    config = parsed(
        "top",
        node("A", ["start"], ["S1", "S2", "S3", "S4"]),
        subgraph("S1", "missing", ["A"], ["end"]),
        subgraph("S2", "top", ["A"], ["end"]),
        subgraph("S3", "middle", ["A"], ["end"]),
        subgraph("S4", "leaf", ["A"], ["end"], handoffs=1),
        {**subgraph("S5", "leaf", ["A"], ["end"]), "subgraph_name": None},
    )
    problems = errors(config, catalog)
    assert where(problems) == [
        ("S1", "subgraph_name"),
        ("S2", "subgraph_name"),
        ("S3", "subgraph_name"),
        ("S4", "handoffs"),
        ("S5", "subgraph_name"),
    ]
    assert "no graph named 'missing'" in problems[0].message
    assert "cannot contain itself" in problems[1].message
    assert "top → middle → top" in problems[2].message
    # A subgraph node needs no model.
    assert not any(problem.field == "model_name" for problem in problems)


def test_normal_nodes_need_a_model_and_negative_handoffs_are_refused() -> None:
    problems = errors(parsed("g", {**node("A", ["start"], ["end"], handoffs=-1), "model_name": ""}))
    assert where(problems) == [("A", "handoffs"), ("A", "model_name")]


def test_every_problem_is_reported_at_once() -> None:
    config = parsed("bad.name", node("a/b", ["nowhere"], []), node("c", ["start"], ["end"], context_mode="x"))
    with pytest.raises(GraphValidationError) as caught:
        require_valid(config)
    assert len(caught.value.problems) == 4
    assert str(caught.value).startswith("Graph 'bad.name' is invalid (4 problems): name: the graph name must not")


def test_warnings_never_block_and_say_how_to_fix() -> None:
    config = parsed(
        "g",
        node(
            "A", ["start"], ["B", "end"], mcp_servers=["search", "time"], system_prompt="Style: {style.md} {tone.txt}"
        ),
        node("B", ["A"], ["end"], context=["A"], model_name="gpt-x"),
        node("island", [], [], handoffs=1),
    )
    report = validate_graph(config, Catalog(models={"m"}, mcp_servers={"time"}, prompt_files={"style.md"}))
    assert report.ok
    assert [(w.node, w.field) for w in report.warnings] == [
        ("A", "mcp_servers"),
        ("A", "system_prompt"),
        ("B", "model_name"),
        ("B", "context"),
        ("island", "input_nodes"),
        ("island", "handoffs"),
    ]
    messages = [warning.message for warning in report.warnings]
    assert "MCP server 'search' is not configured" in messages[0]
    assert "{tone.txt} names no prompt file" in messages[1]
    assert "model 'gpt-x' is not configured; add it (POST /models)" in messages[2]
    assert "set global_output on 'A'" in messages[3]
    assert "no path from 'start' leads to this node" in messages[4]


def test_brace_text_that_is_no_file_name_is_not_a_prompt_file() -> None:
    config = parsed("g", node("A", ["start"], ["end"], system_prompt='Answer as {"score": 1.5} about {start}.'))
    assert validate_graph(config, Catalog(prompt_files=set())).warnings == ()


def test_prompt_file_names_a_document_carries_are_checked() -> None:
    document = GraphDocument.model_validate(
        {**linear(), "prompt_files": {"ok.md": "x", "../etc/passwd": "x", ".hidden.md": "x"}}
    )
    problems = validate_document(document).errors
    assert where(list(problems)) == [(None, "prompt_files"), (None, "prompt_files")]
    assert "'../etc/passwd' must be a plain file name" in problems[0].message


def test_schema_errors_name_the_node_and_field() -> None:
    sent = graph("g", node("A", ["start"], ["end"]), node("B", handoffs="many"), {"input_nodes": 5})
    with pytest.raises(GraphValidationError) as caught:
        parse_document(sent)
    assert where(caught.value.problems) == [("B", "handoffs"), ("#3", "name"), ("#3", "input_nodes")]


def test_document_keys_are_kept_apart_from_the_stored_configuration() -> None:
    document = GraphDocument.model_validate({**linear(), "readme": "# mine", "prompt_files": {}, "version": 7, "x": 1})
    assert document.has_readme and document.has_prompt_files
    assert document.stored_form() == {**linear(), "x": 1}
    assert not GraphDocument.model_validate(linear()).has_readme
