"""The tag protocol and the designs it builds (pure functions), and the templates' markers."""

from __future__ import annotations

from maghub.generation.demo import demo_design_reply
from maghub.generation.designs import GraphDesign, ToolDraft
from maghub.generation.prompts import TOOL_DESIGN_MARKER, Catalog, fill, graph_design_prompt
from maghub.generation.tags import GRAPH_EDITS, TOOL_EDITS, is_finish_command, read_edits
from maghub.tools.template import generator_template


def test_tags_are_read_in_order_whatever_their_case_and_fences() -> None:
    reply = (
        "<ANALYSIS> think </ANALYSIS>"
        "<script_file name='a.py'>```python\nprint(1)\n```</script_file>"
        "<delete_script_file>b.py</delete_script_file>"
        '<Script_File NAME="b.py">x = 2</Script_File>'
        "<graph_name>ignored for tools</graph_name>"
    )
    edits = read_edits(reply, TOOL_EDITS)
    assert [(e.kind, e.name, e.text) for e in edits] == [
        ("analysis", "", "think"),
        ("script_file", "a.py", "print(1)"),
        ("delete_script_file", "", "b.py"),
        ("script_file", "b.py", "x = 2"),
    ]


def test_new_files_and_deletions_in_one_reply_both_take_effect() -> None:
    draft = ToolDraft(script_files={"old.py": "x", "keep.py": "y"})
    problems = draft.apply(
        read_edits(
            '<delete_script_file>old.py</delete_script_file><script_file name="new.py">z</script_file>',
            TOOL_EDITS,
        )
    )
    assert problems == [] and draft.script_files == {"keep.py": "y", "new.py": "z"}


def test_hostile_and_empty_script_files_are_refused_with_a_reason() -> None:
    draft = ToolDraft()
    problems = draft.apply(
        read_edits(
            '<script_file name="../x.py">a</script_file><script_file name="sub/y.py">b</script_file>'
            '<script_file name="notes.txt">c</script_file><script_file name="empty.py"> </script_file>',
            TOOL_EDITS,
        )
    )
    assert draft.script_files == {} and len(problems) == 4
    assert "../x.py" in problems[0] and "empty" in problems[3]


def test_nodes_replace_by_name_and_bad_json_is_a_problem() -> None:
    design = GraphDesign()
    problems = design.apply(
        read_edits(
            '<node>{"name": "a", "v": 1}</node><node>[1]</node><node>{"v": 2}</node>'
            '<node>```json\n{"name": "a", "v": 3}\n```</node><node>{"name": "b"</node>',
            GRAPH_EDITS,
        )
    )
    assert design.nodes == [{"name": "a", "v": 3}]
    assert ["one JSON object" in problems[0], 'no "name"' in problems[1], "not valid JSON" in problems[2]] == [
        True,
        True,
        True,
    ]


def test_a_mention_of_a_tag_inside_analysis_is_not_applied() -> None:
    design = GraphDesign()
    design.apply(read_edits("<analysis>I will send <node> tags next</analysis>", GRAPH_EDITS))
    assert design.nodes == [] and "<node>" in design.analysis


def test_dependencies_are_pip_requirements_and_none_means_none() -> None:
    assert ToolDraft(dependencies="httpx>=0.27\nrich").requirements() == ["httpx>=0.27", "rich"]
    assert ToolDraft(dependencies="none").requirements() == []
    assert ToolDraft(dependencies="").requirements() == []


def test_the_finish_command_is_recognised_with_white_space_only() -> None:
    assert is_finish_command("  <end>END</end>\n") and not is_finish_command("<end>END</end> please")


def test_placeholders_are_filled_once_and_braces_stay() -> None:
    assert fill("{A} {B} {node} {A}", {"A": "{B}"}) == "{B} {B} {node} {B}"
    prompt = graph_design_prompt(Catalog(models={"m": "gpt"}, servers=[]))
    assert "{start}" in prompt and "{MODELS_DESCRIPTION}" not in prompt and "`m` (model `gpt`)" in prompt


def test_the_demo_model_recognises_both_templates_by_their_marker() -> None:
    graph_prompt = graph_design_prompt(Catalog(models={}, servers=[]))
    tool_prompt = generator_template([])
    assert tool_prompt.startswith(TOOL_DESIGN_MARKER)
    user = {"role": "user", "content": "count words"}
    assert "<graph_name>" in (demo_design_reply([{"role": "system", "content": graph_prompt}, user], "demo") or "")
    assert "<folder_name>" in (demo_design_reply([{"role": "system", "content": tool_prompt}, user], "demo") or "")
    assert demo_design_reply([user], "demo") is None
