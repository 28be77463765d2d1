"""``maghub graph validate`` offline, and ``import``/``export`` against a real maghub process."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from graph_samples import graph, linear, node, subgraph

from maghub.testing.process import MAGHUB_COMMAND, MaghubProcess, env_without_maghub_settings


def graph_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MAGHUB_COMMAND, "graph", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env_without_maghub_settings(COLUMNS="200"),
        check=False,
    )


def write(path: Path, document: dict) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False))
    return path


def test_validate_prints_every_problem_and_fails(tmp_path: Path) -> None:
    bad = write(
        tmp_path / "bad.json",
        graph("bad", node("a/b", ["ghost"], []), node("c", ["start"], ["end"], context_mode="sometimes")),
    )
    result = graph_cli("validate", str(bad))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{bad}: graph 'bad' 3 errors"
    assert lines[1].startswith("  error: node 'a/b', name: the node name must not contain /")
    assert lines[2].startswith("  error: node 'a/b', input_nodes: 'ghost' is not a node of this graph")
    assert lines[3].startswith("  error: node 'c', context_mode: 'sometimes' is not a context mode")

    wrong_types = write(tmp_path / "types.json", {"name": "t", "nodes": [{"name": "x", "handoffs": [1]}]})
    result = graph_cli("validate", str(wrong_types))
    assert result.returncode == 1 and "error: node 'x', handoffs:" in result.stdout


def test_validate_checks_subgraphs_among_the_files_given(tmp_path: Path) -> None:
    (tmp_path / "style.md").write_text("Be brief.")
    leaf = write(tmp_path / "leaf.json", graph("leaf", node("L", ["start"], ["end"], system_prompt="{style.md}")))
    top = write(
        tmp_path / "top.json",
        graph("top", node("A", ["start"], ["S", "T"]), subgraph("S", "leaf", [], ["end"]), subgraph("T", "elsewhere")),
    )
    result = graph_cli("validate", str(top), str(leaf))
    assert result.returncode == 0, result.stdout
    assert "graph 'leaf' valid (1 nodes)" in result.stdout and "graph 'top' valid (3 nodes)" in result.stdout
    assert "warning: node 'T', subgraph_name: graph 'elsewhere' is not among the graphs given" in result.stdout
    assert "style.md" not in result.stdout  # found beside the file, as import would send it

    cycle = write(tmp_path / "leaf.json", graph("leaf", node("L", ["start"], ["U"]), subgraph("U", "top", [], ["end"])))
    result = graph_cli("validate", str(top), str(cycle))
    assert result.returncode == 1 and "top → leaf → top" in result.stdout

    missing = graph_cli("validate", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "There is no file" in missing.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MaghubProcess]:
    process = MaghubProcess(tmp_path_factory.mktemp("cli-graph") / "data")
    process.wait_ready()
    yield process
    process.stop()


def test_import_and_export_round_trip(server: MaghubProcess, tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "style.md").write_text("Be brief.")
    document = graph("styled", node("A", ["start"], ["end"], system_prompt="{style.md} {start}"))
    file = write(tmp_path / "styled.json", document)

    imported = graph_cli("import", str(file), "--url", server.url)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "created graph styled (version 1)"
    assert "warning: node 'A', model_name: model 'm' is not configured" in imported.stderr

    again = graph_cli("import", str(file), "--url", server.url)
    assert again.returncode == 2 and "exists already" in again.stderr and "HTTP 409" in again.stderr
    replaced = graph_cli("import", str(file), "--replace", "--url", server.url)
    assert replaced.returncode == 0 and replaced.stdout.strip() == "replaced graph styled (version 2)"

    out = tmp_path / "out" / "exported.json"
    out.parent.mkdir()
    exported = graph_cli("export", "styled", "-o", str(out), "--url", server.url)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(out.read_text()) == {**document, "prompt_files": {"style.md": "Be brief."}}
    to_stdout = graph_cli("export", "styled", "--url", server.url)
    assert json.loads(to_stdout.stdout) == json.loads(out.read_text())

    unknown = graph_cli("export", "ghost", "--url", server.url)
    assert unknown.returncode == 2 and "Graph 'ghost' does not exist" in unknown.stderr and "HTTP 404" in unknown.stderr
    invalid = write(tmp_path / "invalid.json", linear("bad.name"))
    rejected = graph_cli("import", str(invalid), "--url", server.url)
    assert rejected.returncode == 2 and "the graph name must not contain ." in rejected.stderr


def test_packages_export_and_import(server: MaghubProcess, tmp_path: Path) -> None:
    leaf = write(tmp_path / "leaf.json", graph("pkg-leaf", node("L", ["start"], ["end"])))
    top = write(
        tmp_path / "top.json", graph("pkg-top", node("A", ["start"], ["S"]), subgraph("S", "pkg-leaf", ["A"], ["end"]))
    )
    for file in (leaf, top):
        assert graph_cli("import", str(file), "--url", server.url).returncode == 0

    package = tmp_path / "top.zip"
    exported = graph_cli("export", "pkg-top", "-o", str(package), "--url", server.url)
    assert exported.returncode == 0, exported.stderr
    assert f"exported graph pkg-top as a package to {package}" in exported.stderr
    no_file = graph_cli("export", "pkg-top", "--package", "--url", server.url)
    assert no_file.returncode == 2 and "-o FILE.zip" in no_file.stderr

    for name in ("pkg-top", "pkg-leaf"):
        assert httpx2.delete(f"{server.url}/graphs/{name}").status_code == 200
    imported = graph_cli("import", str(package), "--url", server.url)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.splitlines() == ["created graph pkg-top (version 1)", "  created subgraph pkg-leaf"]
    refused = graph_cli("import", str(package), "--replace", "--url", server.url)
    assert refused.returncode == 2 and "--replace does not apply to packages" in refused.stderr
    missing = graph_cli("import", str(tmp_path / "none.zip"), "--url", server.url)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    (tmp_path / "fake.zip").write_text("not a zip")
    fake = graph_cli("import", str(tmp_path / "fake.zip"), "--url", server.url)
    assert fake.returncode == 2 and "is not a zip file" in fake.stderr and "HTTP 400" in fake.stderr
