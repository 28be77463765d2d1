"""Input no database can store is refused with 4xx naming the field, the same on SQLite and PostgreSQL
(SPEC §9): NUL characters in any text (PostgreSQL failed with a 500, SQLite stored them), integers
beyond 64 bits and non-finite numbers, and offsets beyond what a list query can take. One check at
the edge covers every route; the cases below are a sample across the areas, and nothing is stored."""

from __future__ import annotations

import io
import json
import sys
import zipfile
from typing import Any

import pytest

from maghub.storable import json_for_storage, parameters_for_storage
from maghub.testing.harness import RunningMaghub
from maghub.testing.mcp_servers.harness import MARKER_VARIABLE
from maghub.testing.scripted_llm import Reply, ScriptedLLM
from maghub.testing.sse import post_stream

NUL = "\u0000"


async def state(maghub: RunningMaghub) -> list[Any]:
    """Everything the cases below could have stored."""
    client = maghub.client
    return [
        (await client.get("/models")).json(),
        (await client.get("/graphs")).json(),
        (await client.get("/mcp/config")).json(),
        (await client.get("/chat/conversations")).json(),
    ]


def graph(**node_fields: Any) -> dict[str, Any]:
    node = {"name": "A", "model_name": "m", "input_nodes": ["start"], "output_nodes": ["end"], **node_fields}
    return {"name": "g", "nodes": [node]}


# (method, path, JSON body or None, query params or None, the field the answer must name)
MAG_CASES = [
    ("POST", "/chat/completions", {"user_prompt": f"hi{NUL}", "model_name": "m", "conversation_id": "c"}, None,
     "user_prompt"),
    ("POST", "/api/chat/completions", {"user_prompt": "hi", "model_name": "m", "system_prompt": NUL}, None,
     "system_prompt"),
    ("PUT", "/chat/conversations/c/title", {"title": f"t{NUL}"}, None, "title"),
    ("PUT", "/chat/conversations/c/tags", {"tags": ["ok", f"b{NUL}d"]}, None, "tags.1"),
    ("POST", "/chat/conversations/c/compact", {"conversation_id": "c", "user_id": f"u{NUL}"}, None, "user_id"),
    ("POST", "/models", {"name": "m", "base_url": "https://x/v1", "model": f"x{NUL}"}, None, "model"),
    ("POST", "/api/models", {"name": f"m{NUL}", "base_url": "https://x/v1"}, None, "name"),
    ("PUT", "/models/m", {"base_url": "https://x/v1", "extra_headers": {f"X{NUL}": "1"}}, None, "extra_headers"),
    ("POST", "/graphs", graph(system_prompt=f"be{NUL}"), None, "nodes.0.system_prompt"),
    ("POST", "/graphs", {**graph(), "readme": NUL}, None, "readme"),
    ("POST", "/graphs/execute", {"graph_name": "g", "input_text": f"x{NUL}"}, None, "input_text"),
    ("POST", "/mcp/add", {"mcpServers": {"s": {"command": f"python{NUL}"}}}, None, "mcpServers.s.command"),
    ("POST", "/mcp/config", {"mcpServers": {"s": {"command": "uvx", "env": {"K": NUL}}}}, None,
     "mcpServers.s.env.K"),
    ("POST", "/mcp/remove", ["a", NUL], None, "1"),
    ("POST", "/mcp/test-tool", {"server_name": "s", "tool_name": "t", "params": {"q": NUL}}, None, "params.q"),
    ("GET", "/chat/conversations", None, {"user_id": f"a{NUL}b"}, "query.user_id"),
    ("GET", "/graphs/runs/x", None, {"user_id": NUL}, "query.user_id"),
    ("GET", "/graphs/a%00b", None, None, "path"),
    ("DELETE", "/api/models/m%00", None, None, "path"),
    ("POST", "/mcp/connect/s%00", None, None, "path"),
    # numbers no column or parameter can hold
    ("POST", "/models", {"name": "m", "base_url": "https://x/v1", "max_tokens": 2**63}, None, "max_tokens"),
    ("POST", "/models", {"name": "m", "base_url": "https://x/v1", "seed": -(2**63) - 1}, None, "seed"),
    ("POST", "/graphs", graph(context_mode="latest_n", context_n=10**30), None, "nodes.0.context_n"),
    ("POST", "/graphs", graph(handoffs=99999999999999999999), None, "nodes.0.handoffs"),
    ("GET", "/chat/conversations", None, {"offset": "9223372036854775808"}, "query.offset"),
    ("GET", "/api/chat/conversations", None, {"offset": "1000000001"}, "query.offset"),
    ("GET", "/chat/conversations", None, {"limit": "9223372036854775808"}, "query.limit"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "params", "field"), MAG_CASES, ids=[f"{c[0]} {c[1]} {c[4]}" for c in MAG_CASES]
)
async def test_unstorable_input_is_a_422_naming_the_field_and_stores_nothing(
    maghub: RunningMaghub, method: str, path: str, body: Any, params: dict[str, str] | None, field: str
) -> None:
    before = await state(maghub)
    response = await maghub.client.request(method, path, json=body, params=params)
    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert [problem["field"] for problem in problems] == [field], problems
    assert all("input" not in problem for problem in problems)
    assert await state(maghub) == before


HUB_CASES = [
    ("/api/servers/validate", {"type": "stdio", "command": f"npx{NUL}"}, "command"),
    ("/api/servers/test", {"type": "stdio", "command": "npx", "args": ["-y", NUL]}, "args.1"),
    ("/api/servers", {"name": "s", "config": {"type": "stdio", "command": "npx", "env": {"A": NUL}}}, "config.env.A"),
    ("/api/auth/login", {"username": f"root{NUL}", "password": "x"}, "username"),
]


@pytest.mark.parametrize(("path", "body", "field"), HUB_CASES, ids=[case[0] for case in HUB_CASES])
async def test_hub_routes_refuse_it_in_their_own_envelope(
    maghub: RunningMaghub, path: str, body: dict[str, Any], field: str
) -> None:
    response = await maghub.client.post(path, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and error["message"].startswith(f"{field}: contains a NUL")
    assert response.json()["success"] is False


async def test_text_that_only_looks_suspicious_is_stored_as_sent(maghub: RunningMaghub) -> None:
    """A literal backslash-u0000, long digit strings and the words NaN and Infinity are ordinary text."""
    text = "\\u0000 12345678901234567890 1e999 NaN Infinity"
    body = {"name": "m", "base_url": "https://x/v1", "model": text, "seed": 2**63 - 1, "temperature": 1e-300}
    response = await maghub.client.post("/models", json=body)
    assert response.status_code == 200, response.text
    stored = (await maghub.client.get("/models/m")).json()["data"]
    assert stored["model"] == text and stored["seed"] == 2**63 - 1
    page = await maghub.client.get("/chat/conversations", params={"offset": 1_000_000_000, "user_id": text})
    assert page.status_code == 200 and page.json()["conversations"] == []


async def test_non_finite_numbers_are_refused(maghub: RunningMaghub) -> None:
    """Python's JSON reader accepts Infinity and NaN, which no JSON column can store."""
    for raw in (b'{"name": "m", "base_url": "https://x/v1", "timeout": Infinity}', b'{"name": "m", "base_url": '
                b'"https://x/v1", "timeout": 1e999}', b'{"name": "m", "base_url": "https://x/v1", "x": NaN}'):
        response = await maghub.client.post("/models", content=raw, headers={"content-type": "application/json"})
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["type"] == "float_finite"
    assert (await maghub.client.get("/models")).json() == []


def zipped(entries: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


async def test_uploaded_graph_files_and_packages_are_checked_too(maghub: RunningMaghub) -> None:
    """Files are not JSON request bodies: where they are read, the same check names the field."""
    document = json.dumps(graph(user_prompt=f"x{NUL}")).encode()
    upload = await maghub.client.post("/graphs/import_from_file", files={"file": ("g.json", document)})
    assert upload.status_code == 400 and "nodes.0.user_prompt contains a NUL" in upload.json()["detail"]

    package = zipped({"config.json": json.dumps(graph(user_prompt="{rules.txt}")), "prompts/rules.txt": f"a{NUL}"})
    imported = await maghub.client.post("/graphs/import_package_from_file", files={"file": ("g.zip", package)})
    assert imported.status_code == 400 and "rules.txt" in imported.json()["detail"], imported.text
    bad_config = zipped({"config.json": json.dumps({**graph(), "description": NUL})})
    imported = await maghub.client.post("/graphs/import_package_from_file", files={"file": ("g.zip", bad_config)})
    assert imported.status_code == 400 and "description contains a NUL" in imported.json()["detail"]
    assert (await maghub.client.get("/graphs")).json() == []


async def test_a_save_extension_that_is_a_path_is_a_400_on_the_save_field(maghub: RunningMaghub) -> None:
    await maghub.client.post("/models", json={"name": "m", "base_url": "https://x/v1"})
    for bad in ("../../x", "md/../../x", "/etc/x"):
        response = await maghub.client.post("/graphs", json=graph(save=bad))
        assert response.status_code == 400, response.text
        assert [(p["node"], p["field"]) for p in response.json()["problems"]] == [("A", "save")]
    assert (await maghub.client.get("/graphs")).json() == []
    assert (await maghub.client.post("/graphs", json=graph(save=".MD"))).status_code == 200


async def test_what_models_and_tools_produce_is_stored_alike_with_nul_replaced(
    marker: str, maghub: RunningMaghub, llm: ScriptedLLM
) -> None:
    """Not input, so not refusable: a model's answer or a tool's result with a NUL is stored with U+FFFD
    on every backend (PostgreSQL ended the stream with an internal error; SQLite stored the NUL)."""
    toolbox = {
        "command": sys.executable,
        "args": ["-m", "maghub.testing.mcp_servers.toolbox"],
        "env": {MARKER_VARIABLE: marker},
    }
    assert (await maghub.client.post("/mcp/add", json={"mcpServers": {"toolbox": toolbox}})).status_code == 200
    assert (await maghub.client.post("/models", json={"name": "m", "base_url": llm.base_url})).status_code == 200
    llm.script(
        Reply(tool_calls=[{"name": "echo", "arguments": {"text": f"tool{NUL}out"}}]),
        when=lambda body: body["messages"][-1]["role"] == "user" and "<title>" not in str(body["messages"][-1]),
    )
    llm.default_reply = lambda body: Reply(content=f"a{NUL}b")
    body = {"user_prompt": "hi", "model_name": "m", "conversation_id": "c1", "mcp_servers": ["toolbox"]}
    stream = await post_stream(maghub.client, "/chat/completions", body)
    assert stream.done and not stream.errors, stream.events

    detail = (await maghub.client.get("/chat/conversations/c1")).json()
    messages = detail["rounds"][0]["messages"]
    stored = json.dumps(messages, ensure_ascii=False)
    assert NUL not in stored and "tool\ufffdout" in stored and messages[-1]["content"] == "a\ufffdb"


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ({"a": f"x{NUL}y"}, {"a": "x\ufffdy"}),
        ({"a": "the text \\u0000 stays"}, {"a": "the text \\u0000 stays"}),
        ({"a": f"\\{NUL}"}, {"a": "\\\ufffd"}),
        ([f"{NUL}{NUL}", 1], ["\ufffd\ufffd", 1]),
    ],
)
def test_json_for_storage_replaces_only_real_nul_characters(value: Any, stored: Any) -> None:
    assert json.loads(json_for_storage(value)) == stored
    assert parameters_for_storage((f"a{NUL}", 3, [f"{NUL}"])) == ("a\ufffd", 3, ["\ufffd"])
    unchanged = ("a", 1)
    assert parameters_for_storage(unchanged) is unchanged
