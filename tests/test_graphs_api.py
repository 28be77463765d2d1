"""Graph management over real HTTP, on SQLite and PostgreSQL: graphs stored as submitted with a version,
every problem at once, subgraph references kept consistent on delete and rename, README, prompt files,
JSON import and export, and the compiled form a run starts from."""

from __future__ import annotations

import asyncio
import json
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from graph_samples import graph, linear, node, subgraph, web_client_graph

from maghub.graphs.definition.validation import GraphValidationError
from maghub.testing.harness import RunningMaghub


async def add_model(maghub: RunningMaghub, name: str = "m") -> None:
    body = {"name": name, "base_url": "http://127.0.0.1:9/v1", "model": "model-x"}
    assert (await maghub.client.post("/models", json=body)).status_code == 200


async def save(maghub: RunningMaghub, document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    response = await maghub.client.post(f"{prefix}/graphs", json=document)
    assert response.status_code == 200, response.text
    return response.json()


async def get(maghub: RunningMaghub, name: str, prefix: str = "") -> dict[str, Any]:
    response = await maghub.client.get(f"{prefix}/graphs/{name}")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_the_web_clients_graph_round_trips_as_sent(maghub: RunningMaghub, prefix: str) -> None:
    await add_model(maghub)
    await save(maghub, graph("helper", node("H", ["start"], ["end"])), prefix)
    sent = web_client_graph(subgraph_name="helper")
    saved = await save(maghub, sent, prefix)
    assert saved == {
        "status": "success",
        "message": "图 '研究助手' 保存成功",
        "name": "研究助手",
        "version": 1,
        "created": True,
        "warnings": [
            {
                "node": "researcher",
                "field": "mcp_servers",
                "message": "MCP server 'search' is not configured; add it (POST /mcp/add) before running the graph",
            }
        ],
    }
    assert await get(maghub, "研究助手", prefix) == {**sent, "version": 1}
    assert (await maghub.client.get(f"{prefix}/graphs")).json() == ["helper", "研究助手"]


async def test_each_save_is_a_new_version_and_document_keys_are_not_config(maghub: RunningMaghub) -> None:
    first = await save(maghub, linear())
    assert (first["version"], first["created"]) == (1, True)
    changed = {**linear(), "description": "second", "version": 99, "readme": "# Linear", "extra": {"a": [1]}}
    second = await save(maghub, changed)
    assert (second["version"], second["created"]) == (2, False)
    stored = await get(maghub, "linear")
    assert stored == {**linear(), "description": "second", "extra": {"a": [1]}, "version": 2}


async def test_concurrent_saves_each_get_their_own_version(maghub: RunningMaghub) -> None:
    bodies = [{**linear(), "description": f"edit {i}"} for i in range(6)]
    results = await asyncio.gather(*(save(maghub, body) for body in bodies))
    assert sorted(result["version"] for result in results) == [1, 2, 3, 4, 5, 6]
    assert [result["created"] for result in results].count(True) == 1
    last = max(results, key=lambda result: result["version"])
    stored = await get(maghub, "linear")
    assert stored["version"] == 6 and stored == {**bodies[results.index(last)], "version": 6}


async def test_an_invalid_graph_is_a_400_listing_every_problem_and_stores_nothing(maghub: RunningMaghub) -> None:
    bad = graph("bad", node("a.b", ["ghost"], []), node("c", ["start"], ["c"]), subgraph("s", "nowhere", ["c"]))
    response = await maghub.client.post("/graphs", json=bad)
    assert response.status_code == 400
    body = response.json()
    assert body["detail"].startswith("Graph 'bad' is invalid (5 problems): node 'a.b', name: the node name must not")
    assert [(p["node"], p["field"]) for p in body["problems"]] == [
        ("a.b", "name"),
        ("a.b", "input_nodes"),
        ("s", "subgraph_name"),
        (None, "output_nodes"),
        ("c", "handoffs"),
    ]
    assert all(p["message"] for p in body["problems"])
    assert (await maghub.client.get("/graphs/bad")).status_code == 404

    wrong_types = await maghub.client.post("/graphs", json={"name": "x", "nodes": [{"name": "a", "handoffs": "many"}]})
    assert wrong_types.status_code == 422
    assert wrong_types.json()["detail"][0]["field"] == "nodes.0.handoffs"
    assert (await maghub.client.post("/graphs", json={"nodes": []})).status_code == 422


async def test_delete_refuses_while_a_graph_uses_it_unless_forced(maghub: RunningMaghub) -> None:
    await save(maghub, graph("leaf", node("L", ["start"], ["end"])))
    await save(maghub, graph("parent", node("A", ["start"], ["S"]), subgraph("S", "leaf", [], ["end"])))
    refused = await maghub.client.delete("/graphs/leaf")
    assert refused.status_code == 409
    assert "used as a subgraph by 'parent'" in refused.json()["detail"] and "?force=true" in refused.json()["detail"]
    assert (await get(maghub, "leaf"))["version"] == 1

    forced = await maghub.client.delete("/graphs/leaf", params={"force": "true"})
    assert forced.status_code == 200
    assert forced.json() == {"status": "success", "message": "图 'leaf' 删除成功", "still_referenced_by": ["parent"]}
    with pytest.raises(GraphValidationError, match="no graph named 'leaf'"):
        await maghub.runtime.graphs.load_for_run("parent")
    assert (await maghub.client.delete("/graphs/leaf")).status_code == 404
    assert (await maghub.client.delete("/graphs/parent")).status_code == 200
    assert (await maghub.client.get("/graphs")).json() == []


async def test_rename_moves_the_graph_and_the_references_to_it(maghub: RunningMaghub) -> None:
    await save(maghub, graph("leaf", node("L", ["start"], ["end"])))
    await save(maghub, graph("middle", node("M", ["start"], ["T"]), subgraph("T", "leaf", [], ["end"])))
    await save(maghub, graph("top", node("A", ["start"], ["S"]), subgraph("S", "middle", [], ["end"])))
    renamed = await maghub.client.put("/graphs/leaf/rename/叶子")
    assert renamed.status_code == 200
    assert renamed.json() == {
        "status": "success",
        "message": "图 'leaf' 重命名为 '叶子' 成功",
        "updated_graphs": ["middle"],
    }
    moved = await get(maghub, "叶子")
    assert (moved["name"], moved["version"]) == ("叶子", 2)
    middle = await get(maghub, "middle")
    assert middle["nodes"][1]["subgraph_name"] == "叶子" and middle["version"] == 2
    assert (await maghub.client.get("/graphs/leaf")).status_code == 404

    compiled = await maghub.runtime.graphs.load_for_run("top")
    assert list(compiled.nodes) == ["A", "S/start", "S/M", "S/T/start", "S/T/L", "S/T", "S"]
    assert compiled.versions == {"top": 1, "middle": 2, "叶子": 2}

    bad = await maghub.client.put("/graphs/middle/rename/mid.dle")
    assert bad.status_code == 400 and "must not contain ." in bad.json()["detail"]
    assert (await maghub.client.put("/graphs/middle/rename/top")).status_code == 409
    assert (await maghub.client.put("/graphs/ghost/rename/other")).status_code == 404
    assert (await get(maghub, "middle"))["version"] == 2


async def test_readme_is_generated_unless_one_was_written(maghub: RunningMaghub) -> None:
    await add_model(maghub)
    await save(maghub, {**linear(), "description": "Three steps."})
    generated = (await maghub.client.get("/graphs/linear/readme")).json()
    assert generated["name"] == "linear" and generated["config"] == await get(maghub, "linear")
    readme = generated["readme"]
    assert readme.startswith("# linear\n\nThree steps.\n\n## Flow\n\n```mermaid\ngraph TD\n")
    assert "    Input --> n0\n    n0 --> n1\n    n1 --> n2\n    n2 --> Output\n" in readme
    assert "- `m`: `model-x` at http://127.0.0.1:9/v1" in readme

    await save(maghub, {**linear(), "readme": "# My own words"})
    assert (await maghub.client.get("/graphs/linear/readme")).json()["readme"] == "# My own words"
    await save(maghub, linear())  # saved from the web client: no readme key, the written one stays
    assert (await maghub.client.get("/api/graphs/linear/readme")).json()["readme"] == "# My own words"
    await save(maghub, {**linear(), "readme": None})
    assert (await maghub.client.get("/graphs/linear/readme")).json()["readme"].startswith("# linear\n")
    assert (await maghub.client.get("/graphs/ghost/readme")).status_code == 404


async def test_prompt_files_export_and_import_round_trip(maghub: RunningMaghub) -> None:
    await add_model(maghub)
    document = graph(
        "styled",
        node("A", ["start"], ["end"], system_prompt="{style.md}\n{start}", user_prompt="{extra.txt}"),
    )
    first = await save(maghub, {**document, "prompt_files": {"style.md": "Be brief."}, "readme": "# Styled"})
    assert [(w["node"], w["field"]) for w in first["warnings"]] == [("A", "user_prompt")]
    assert "add 'extra.txt' to the graph's prompt_files" in first["warnings"][0]["message"]
    second = await save(maghub, document)  # no prompt_files key: the stored files stay
    assert [(w["node"], w["field"]) for w in second["warnings"]] == [("A", "user_prompt")]

    compiled = await maghub.runtime.graphs.load_for_run("styled")
    assert compiled.prompt_file(compiled.nodes["A"], "style.md") == "Be brief."

    exported = await maghub.client.get("/graphs/styled/export")
    assert exported.status_code == 200
    body = exported.json()
    assert body["graph"] == {**document, "readme": "# Styled", "prompt_files": {"style.md": "Be brief."}}
    path = Path(body["file_path"])
    assert path == maghub.settings.data_dir / "exports" / "styled.zip"
    with zipfile.ZipFile(path) as package:
        assert json.loads(package.read("config.json")) == document
        assert package.read("prompts/style.md") == b"Be brief."

    assert (await maghub.client.delete("/graphs/styled")).status_code == 200
    upload = {"file": ("styled.json", json.dumps(body["graph"]).encode(), "application/json")}
    imported = await maghub.client.post("/graphs/import_from_file", files=upload)
    assert imported.status_code == 200, imported.text
    assert imported.json()["message"] == "图 'styled' 导入成功" and imported.json()["needs_api_key"] == []
    assert await get(maghub, "styled") == {**document, "version": 1}
    assert (await maghub.client.get("/graphs/styled/readme")).json()["readme"] == "# Styled"
    assert await maghub.runtime.graphs.prompt_files("styled") == {"style.md": "Be brief."}

    again = await maghub.client.post("/graphs/import_from_file", files=upload)
    assert again.status_code == 409 and "exists already" in again.json()["detail"]
    not_json = await maghub.client.post("/graphs/import_from_file", files={"file": ("g.yaml", b"a: 1")})
    assert not_json.status_code == 400
    broken = await maghub.client.post("/graphs/import_from_file", files={"file": ("g.json", b"{nope")})
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["detail"]
    invalid = await maghub.client.post("/graphs/import_from_file", files={"file": ("g.json", b'{"nodes": 3}')})
    assert invalid.status_code == 400
    assert [(p["node"], p["field"]) for p in invalid.json()["problems"]] == [(None, "name"), (None, "nodes")]


async def test_import_from_a_server_path_reads_only_prompt_files_beside_it(
    maghub: RunningMaghub, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    (folder / "prompts").mkdir(parents=True)
    (folder / "tone.md").write_text("Friendly.")
    (folder / "prompts" / "rules.txt").write_text("No jargon.")
    (tmp_path / "secret.txt").write_text("not for prompts")
    (folder / "linked.txt").symlink_to(tmp_path / "secret.txt")
    prompt = "{tone.md} {rules.txt} {missing.md} {../secret.txt} {linked.txt}"
    file = folder / "graph.json"
    file.write_text(json.dumps(graph("from-disk", node("A", ["start"], ["end"], system_prompt=prompt))))

    response = await maghub.client.post("/graphs/import", json={"file_path": str(file)})
    assert response.status_code == 200, response.text
    warnings = [w["message"] for w in response.json()["warnings"]]
    assert any("no file 'missing.md' next to the imported file" in message for message in warnings)
    assert any("no file 'linked.txt' next to the imported file" in message for message in warnings)
    assert await maghub.runtime.graphs.prompt_files("from-disk") == {"tone.md": "Friendly.", "rules.txt": "No jargon."}

    for path, status in [("relative.json", 400), (str(folder / "none.json"), 404), (str(folder / "tone.md"), 400)]:
        failed = await maghub.client.post("/graphs/import", json={"file_path": path})
        assert failed.status_code == status, failed.text
    assert (await maghub.client.post("/graphs/import", json={"file_path": str(file)})).status_code == 409


async def test_auth_mode_graph_writes_are_for_users_server_files_for_admins(
    secured: RunningMaghub, sign_in: Callable[[str], Awaitable[dict[str, str]]], tmp_path: Path
) -> None:
    client = secured.client
    assert (await client.get("/graphs")).status_code == 401
    alice = await sign_in("alice")
    assert (await client.post("/api/graphs", json=linear(), headers=alice)).status_code == 200
    assert (await client.put("/api/graphs/linear/rename/line", headers=alice)).status_code == 200
    file = tmp_path / "g.json"
    file.write_text(json.dumps(linear("from-file")))
    refused = await client.post("/api/graphs/import", json={"file_path": str(file)}, headers=alice)
    assert refused.status_code == 403
    root = await sign_in("root")
    assert (await client.post("/api/graphs/import", json={"file_path": str(file)}, headers=root)).status_code == 200
    assert (await client.get("/api/graphs", headers=alice)).json() == ["from-file", "line"]
