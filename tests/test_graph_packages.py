"""Graph packages (.zip) over real HTTP, on SQLite and PostgreSQL: export with subgraphs, prompt files,
models and MCP servers and no secret in it; import of maghub's and the original MAG's packages; every
bad package refused whole (nothing stored); zip slip and oversized entries; admin rules in auth mode."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from graph_samples import graph, node, subgraph

from maghub.graphs.sharing.packages import MAX_ENTRY_BYTES
from maghub.testing.harness import RunningMaghub

API_KEY = "sk-live-4f9a8b7c6d5e4f3a2b1c"
ENV_SECRET = "envsecret-9d8c7b6a5f4e"
ARG_SECRET = "argSecret7Kq2Wz9Lm4Xp"
HEADER_SECRET = "Bearer hdr-5k2j9d8f7g6h"
URL_SECRET = "urlSecret3Jd8Ks2Lq9"
DSN_SECRET = "hunter2-dsn"
SECRETS = (API_KEY, ENV_SECRET, ARG_SECRET, HEADER_SECRET.split()[1], URL_SECRET, DSN_SECRET)

SERVERS = {
    "search": {
        "command": "search-server",
        "args": ["--token", ARG_SECRET, "--verbose", f"--db=postgresql://admin:{DSN_SECRET}@db/prod"],
        "env": {"SEARCH_API_KEY": ENV_SECRET, "LOG_LEVEL": "debug", "CACHE_URL": f"redis://:{DSN_SECRET}@cache:6379/0"},
        "disabled": True,
    },
    "web": {
        "transportType": "streamable_http",
        "url": f"https://mcp.example.com/mcp?api_key={URL_SECRET}&region=eu",
        "headers": {"Authorization": HEADER_SECRET, "Accept": "application/json"},
        "disabled": True,
    },
}


def helper_graph() -> dict[str, Any]:
    return graph("helper", node("H", ["start"], ["end"], mcp_servers=["search"], system_prompt="{tone.md}"))


def main_graph() -> dict[str, Any]:
    return graph(
        "main",
        node("A", ["start"], ["S"], mcp_servers=["web"], system_prompt="{style.md} then {start}"),
        subgraph("S", "helper", ["A"], ["end"]),
        description="Uses a helper.",
    )


async def setup_source(maghub: RunningMaghub) -> None:
    client = maghub.client
    model = {
        "name": "m",
        "base_url": f"http://proxy-user:{DSN_SECRET}@127.0.0.1:9/v1",
        "api_key": API_KEY,
        "model": "model-x",
        "temperature": 0.3,
        "extra_headers": {"X-Team": "t-1"},
    }
    assert (await client.post("/models", json=model)).status_code == 200
    added = await client.post("/mcp/add", json={"mcpServers": SERVERS})
    assert added.status_code == 200, added.text
    for document in (
        {**helper_graph(), "prompt_files": {"tone.md": "Calm."}},
        {**main_graph(), "prompt_files": {"style.md": "Short."}, "readme": "# Main, in my words"},
    ):
        assert (await client.post("/graphs", json=document)).status_code == 200


async def wipe(maghub: RunningMaghub) -> None:
    client = maghub.client
    for name in ("main", "helper"):
        assert (await client.delete(f"/graphs/{name}", params={"force": "true"})).status_code == 200
    assert (await client.delete("/models/m")).status_code == 200
    assert (await client.post("/mcp/remove", json=list(SERVERS))).status_code == 200


async def nothing_stored(maghub: RunningMaghub) -> None:
    assert (await maghub.client.get("/graphs")).json() == []
    assert (await maghub.client.get("/models")).json() == []
    assert (await maghub.client.get("/mcp/config")).json()["mcpServers"] == {}


def upload(data: bytes, name: str = "package.zip") -> dict[str, Any]:
    return {"file": (name, data, "application/zip")}


def make_zip(entries: dict[str, str | bytes]) -> bytes:
    return make_zip_with(entries, zipfile.ZIP_DEFLATED)


def make_zip_with(entries: dict[str, str | bytes], compression: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


async def test_a_package_round_trips_with_subgraphs_and_no_secrets(maghub: RunningMaghub) -> None:
    await setup_source(maghub)
    client = maghub.client

    download = await client.get("/api/graphs/main/package")
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    assert "main.zip" in download.headers["content-disposition"]
    data = download.content
    for secret in SECRETS:
        assert secret.encode() not in data, secret
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == [
            "attachment/mcp.json",
            "attachment/model.json",
            "config.json",
            "manifest.json",
            "prompts/style.md",
            "readme.md",
            "subgraphs/helper/config.json",
            "subgraphs/helper/prompts/tone.md",
            "subgraphs/helper/readme.md",
        ]
        assert json.loads(archive.read("config.json")) == main_graph()
        assert archive.read("readme.md").decode() == "# Main, in my words"
        assert archive.read("subgraphs/helper/readme.md").decode().startswith("# helper")
        (model,) = json.loads(archive.read("attachment/model.json"))["models"]
        assert model["api_key"] == "" and model["temperature"] == 0.3 and model["extra_headers"] == {"X-Team": ""}
        servers = json.loads(archive.read("attachment/mcp.json"))["mcpServers"]
        assert servers["search"]["env"] == {
            "SEARCH_API_KEY": "",
            "LOG_LEVEL": "debug",
            "CACHE_URL": "redis://cache:6379/0",
        }
        assert servers["search"]["args"] == ["--token", "", "--verbose", "--db=postgresql://db/prod"]
        assert model["base_url"] == "http://127.0.0.1:9/v1"
        assert servers["web"]["headers"] == {"Authorization": "", "Accept": "application/json"}
        assert servers["web"]["url"] == "https://mcp.example.com/mcp?api_key=&region=eu"

    exported = await client.get("/api/graphs/main/export")
    assert exported.status_code == 200, exported.text
    body = exported.json()
    assert Path(body["file_path"]) == maghub.settings.data_dir / "exports" / "main.zip"
    assert zipfile.ZipFile(body["file_path"]).namelist() == zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert body["graphs"] == ["main", "helper"] and body["models"] == ["m"] and body["mcp_servers"] == ["search", "web"]
    assert body["needs_secrets"] == [
        "model 'm': base_url credentials",
        "model 'm': api_key",
        "model 'm': extra_headers.X-Team",
        "MCP server 'search': env.SEARCH_API_KEY",
        "MCP server 'search': env.CACHE_URL credentials",
        "MCP server 'search': args[1]",
        "MCP server 'search': args[3] credentials",
        "MCP server 'web': headers.Authorization",
        "MCP server 'web': url query api_key",
    ]
    assert body["graph"]["readme"] == "# Main, in my words"

    await wipe(maghub)
    await nothing_stored(maghub)
    imported = await client.post("/api/graphs/import_package_from_file", files=upload(data, "main.zip"))
    assert imported.status_code == 200, imported.text
    result = imported.json()
    assert result["name"] == "main" and result["created"] is True and result["message"] == "图 'main' 导入成功"
    assert result["imported_subgraphs"] == ["helper"] and result["skipped_subgraphs"] == []
    assert result["added_models"] == ["m"] and result["needs_api_key"] == ["m"] and result["skipped_models"] == []
    assert result["added_servers"] == ["search", "web"] and result["skipped_servers"] == []
    assert result["needs_secrets"] == [
        "MCP server 'search': env.SEARCH_API_KEY",
        "MCP server 'web': headers.Authorization",
    ]
    assert result["imported_mcp_tools"] == [] and result["skipped_mcp_tools"] == []
    (warning,) = result["warnings"]
    assert warning["field"] == "package" and "MCP servers added disabled: search, web" in warning["message"]
    configured = (await client.get("/mcp/config")).json()["mcpServers"]
    assert configured["search"]["disabled"] is True and configured["search"]["command"] == "search-server"

    assert (await client.get("/graphs/main")).json() == {**main_graph(), "version": 1}
    assert (await client.get("/graphs/main/readme")).json()["readme"] == "# Main, in my words"
    assert (await client.get("/graphs/helper/readme")).json()["readme"].startswith("# helper")
    assert (await client.get("/graphs/helper")).json()["version"] == 1  # generated README not frozen
    assert await maghub.runtime.graphs.prompt_files("main") == {"style.md": "Short."}
    assert await maghub.runtime.graphs.prompt_files("helper") == {"tone.md": "Calm."}
    assert (await maghub.runtime.models.get_config("m")).temperature == 0.3
    await maghub.runtime.graphs.load_for_run("main")  # the subgraph resolves

    again = await client.post("/api/graphs/import_package_from_file", files=upload(data, "main.zip"))
    assert again.status_code == 409 and "exists already" in again.json()["detail"]

    assert (await client.delete("/graphs/main")).status_code == 200
    reused = await client.post("/api/graphs/import_package_from_file", files=upload(data, "main.zip"))
    assert reused.status_code == 200, reused.text
    reused_body = reused.json()
    assert reused_body["imported_subgraphs"] == [] and reused_body["skipped_subgraphs"] == ["helper"]
    assert reused_body["skipped_models"] == ["m"] and reused_body["added_models"] == []
    assert reused_body["skipped_servers"] == ["search", "web"] and reused_body["needs_secrets"] == []


def original_package(root: str = "") -> bytes:
    """As the original MAG exported: no name in config.json (the zip's stem), no manifest, a generated
    readme.md, blank API keys, and an AI-generated tool folder."""
    config = {"description": "from MAG", "nodes": [node("A", ["start"], ["end"], user_prompt="{rules.txt}")]}
    return make_zip(
        {
            f"{root}config.json": json.dumps(config),
            f"{root}readme.md": "# 旧图\n## 流程图",
            f"{root}prompts/rules.txt": "Be kind.",
            f"{root}prompts/bad name!.txt": "skipped",
            f"{root}attachment/mcp.json": json.dumps({"mcpServers": {"time": {"command": "uvx", "disabled": True}}}),
            f"{root}attachment/model.json": json.dumps(
                {"models": [{"name": "m", "base_url": "https://api.example.com/v1", "model": "x", "api_key": ""}]}
            ),
            f"{root}mcp/my_tool/main.py": "print('never run')",
            f"{root}mcp/my_tool/.venv/bin/python": b"\x7fELF",
        }
    )


@pytest.mark.parametrize("root", ["", "旧图/"])
async def test_the_original_mags_packages_import(maghub: RunningMaghub, root: str) -> None:
    response = await maghub.client.post(
        "/graphs/import_package_from_file", files=upload(original_package(root), "旧图.zip")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "旧图" and body["needs_api_key"] == ["m"] and body["added_servers"] == ["time"]
    assert body["skipped_mcp_tools"] == ["my_tool"] and body["imported_mcp_tools"] == []
    messages = [warning["message"] for warning in body["warnings"]]
    assert any("not installed from packages" in message and "my_tool" in message for message in messages)
    assert any("bad name!.txt skipped" in message for message in messages)
    assert (await maghub.client.get("/graphs/旧图/readme")).json()["readme"] == "# 旧图\n## 流程图"
    assert await maghub.runtime.graphs.prompt_files("旧图") == {"rules.txt": "Be kind."}
    assert not (maghub.settings.data_dir / "mcp").exists()


def with_entry(name: str, content: str | bytes) -> bytes:
    return make_zip({"config.json": json.dumps(graph("g", node("A", ["start"], ["end"]))), name: content})


BAD_PACKAGES = [
    ("not a zip", b"PK-nope", "is not a zip file"),
    ("zip slip", with_entry("../evil.txt", "x"), "outside the package"),
    ("absolute", with_entry("/etc/evil", "x"), "outside the package"),
    ("no config", make_zip({"readme.md": "# hi"}), "has no config.json"),
    ("broken config", make_zip({"config.json": "{nope"}), "config.json is not valid JSON"),
    ("bad server", with_entry("attachment/mcp.json", json.dumps({"mcpServers": {"s": {"args": ["x"]}}})), "command"),
    ("bad model", with_entry("attachment/model.json", json.dumps({"models": [{"name": "m2"}]})), "model m2 is invalid"),
    ("bomb", with_entry("readme.md", b"\0" * (MAX_ENTRY_BYTES + 1)), "too large"),
    (
        "bzip2",
        make_zip_with({"config.json": json.dumps(graph("g", node("A", ["start"], ["end"])))}, zipfile.ZIP_BZIP2),
        "compressed with method",
    ),
    (
        "one model twice",
        with_entry(
            "attachment/model.json",
            json.dumps({"models": [{"name": "m", "base_url": "http://x/v1", "model": "x"}] * 2}),
        ),
        "names 'm' more than once",
    ),
    ("two graphs, one name", with_entry("subgraphs/x/config.json", json.dumps(graph("g"))), "more than one graph"),
]


@pytest.mark.parametrize(("case", "data", "message"), BAD_PACKAGES, ids=[case[0] for case in BAD_PACKAGES])
async def test_a_bad_package_is_refused_whole(maghub: RunningMaghub, case: str, data: bytes, message: str) -> None:
    response = await maghub.client.post("/graphs/import_package_from_file", files=upload(data))
    assert response.status_code == 400, response.text
    assert message in response.json()["detail"]
    await nothing_stored(maghub)


async def test_an_invalid_graph_stores_none_of_the_packages_models_or_servers(maghub: RunningMaghub) -> None:
    config = graph("g", node("A", ["start"], ["ghost"]), subgraph("S", "missing", ["A"], ["end"]))
    data = make_zip(
        {
            "config.json": json.dumps(config),
            "attachment/mcp.json": json.dumps({"mcpServers": {"time": {"command": "uvx", "disabled": True}}}),
            "attachment/model.json": json.dumps({"models": [{"name": "m", "base_url": "http://x/v1", "model": "x"}]}),
        }
    )
    response = await maghub.client.post("/graphs/import_package_from_file", files=upload(data))
    assert response.status_code == 400, response.text
    fields = {(problem["node"], problem["field"]) for problem in response.json()["problems"]}
    assert ("A", "output_nodes") in fields and ("S", "subgraph_name") in fields
    await nothing_stored(maghub)


async def test_import_from_a_server_path(maghub: RunningMaghub, tmp_path: Path) -> None:
    file = tmp_path / "旧图.zip"
    file.write_bytes(original_package())
    for path, status in [("relative.zip", 400), (str(tmp_path / "none.zip"), 404), (str(tmp_path), 400)]:
        failed = await maghub.client.post("/api/graphs/import_package", json={"file_path": path})
        assert failed.status_code == status, failed.text
    response = await maghub.client.post("/api/graphs/import_package", json={"file_path": str(file)})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "旧图"
    not_zip = await maghub.client.post("/graphs/import_package_from_file", files=upload(b"{}", "g.json"))
    assert not_zip.status_code == 400 and "not a .zip file" in not_zip.json()["detail"]
    assert (await maghub.client.get("/graphs/ghost/package")).status_code == 404


async def test_auth_mode_only_admins_import_packages_that_add_models_or_servers(
    secured: RunningMaghub, sign_in: Callable[[str], Awaitable[dict[str, str]]], tmp_path: Path
) -> None:
    client = secured.client
    alice, root = await sign_in("alice"), await sign_in("root")
    refused = await client.post(
        "/api/graphs/import_package_from_file", files=upload(original_package(), "旧图.zip"), headers=alice
    )
    assert refused.status_code == 403
    assert "adds models (m) and MCP servers (time)" in refused.json()["detail"]
    assert (await client.get("/api/graphs", headers=alice)).json() == []

    plain = make_zip({"config.json": json.dumps(graph("plain", node("A", ["start"], ["end"])))})
    accepted = await client.post("/api/graphs/import_package_from_file", files=upload(plain), headers=alice)
    assert accepted.status_code == 200, accepted.text

    file = tmp_path / "旧图.zip"
    file.write_bytes(original_package())
    by_path = {"file_path": str(file)}
    assert (await client.post("/api/graphs/import_package", json=by_path, headers=alice)).status_code == 403
    assert (await client.post("/api/graphs/import_package", json=by_path, headers=root)).status_code == 200
