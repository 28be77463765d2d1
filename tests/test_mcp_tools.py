"""Pure parts of the MCP layer: LLM tool names, result text for the LLM, timing policy."""

from __future__ import annotations

import re

import mcp_types
import pytest

from maghub.mcp.configuration.server_config import parse_server_entry
from maghub.mcp.connections.policy import ConnectionPolicy, is_package_runner
from maghub.mcp.results import ToolCallResult, llm_text
from maghub.mcp.tools import ToolRoute, ToolSpec, assign_tool_names, build_openai_tools

VALID_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def spec(server: str, name: str, schema: dict[str, object] | None = None) -> ToolSpec:
    tool = mcp_types.Tool(name=name, description=f"{name} of {server}", input_schema=schema or {"type": "object"})
    return ToolSpec.from_mcp(server, tool)


# --- names offered to the LLM -------------------------------------------------------------------------


def test_unique_names_stay_and_collisions_get_the_server_prefix() -> None:
    tools = build_openai_tools(
        [spec("time", "now"), spec("fs", "read_file"), spec("fs2", "read_file"), spec("fs2", "write_file")]
    )
    assert list(tools.routes) == ["now", "fs__read_file", "fs2__read_file", "write_file"]
    assert tools.routes["fs2__read_file"] == ToolRoute("fs2", "read_file")
    assert [schema["function"]["name"] for schema in tools.schemas] == list(tools.routes)
    _schemas, routes = tools  # unpacks as (schemas, routes)
    assert routes["now"] == ("time", "now")


def test_names_are_sanitised_and_bounded_deterministically() -> None:
    routes = [
        ToolRoute("高德地图", "search"),
        ToolRoute("maps", "search"),
        ToolRoute("s", "get.time"),
        ToolRoute("s", "x" * 80),
        ToolRoute("t", "y" * 80),
        ToolRoute("u", ""),
    ]
    names = assign_tool_names(routes)
    assert all(VALID_NAME.match(name) for name in names.values()), names
    assert len(set(names.values())) == len(routes)
    assert names[ToolRoute("s", "get.time")] == "get_time"
    assert names[ToolRoute("高德地图", "search")] == "______search"
    assert len(names[ToolRoute("s", "x" * 80)]) == 64
    assert assign_tool_names(list(reversed(routes))) == names  # order does not matter


def test_names_that_collide_only_after_sanitising_are_told_apart() -> None:
    names = assign_tool_names([ToolRoute("a", "get.time"), ToolRoute("b", "get_time")])
    assert len(set(names.values())) == 2
    assert all(VALID_NAME.match(name) for name in names.values())


def test_schemas_are_objects_even_when_the_server_sends_none() -> None:
    tools = build_openai_tools(
        [spec("s", "a", {}), spec("s", "b", {"type": "object", "properties": {"x": {"type": "string"}}})]
    )
    assert tools.schemas[0]["function"]["parameters"] == {"type": "object", "properties": {}}
    assert tools.schemas[1]["function"]["parameters"]["properties"] == {"x": {"type": "string"}}
    assert tools.schemas[0]["type"] == "function"
    assert tools.schemas[0]["function"]["description"] == "a of s"


# --- what the LLM reads -------------------------------------------------------------------------------


def result(**fields: object) -> mcp_types.CallToolResult:
    return mcp_types.CallToolResult.model_validate(fields)


def test_blocks_are_joined_in_order_with_placeholders_for_images() -> None:
    r = result(
        content=[
            {"type": "text", "text": "one"},
            {"type": "image", "data": "A" * 4000, "mimeType": "image/png"},
            {"type": "text", "text": "two"},
        ]
    )
    assert llm_text(r) == "one\n[image: image/png, 2.9 KB]\ntwo"


def test_structured_content_is_not_read_when_there_are_content_blocks() -> None:
    # read_media_file-like: an image block plus a structured copy holding the base64 data.
    r = result(
        content=[{"type": "image", "data": "QUJD", "mimeType": "image/jpeg"}],
        structuredContent={"content": [{"type": "image", "data": "QUJD" * 1000}]},
    )
    assert llm_text(r) == "[image: image/jpeg, 3 bytes]"


def test_long_results_are_cut_with_a_note() -> None:
    text = llm_text(result(content=[{"type": "text", "text": "x" * 5000}]), max_chars=1000)
    assert text.startswith("x" * 1000 + "\n[… 4,000 more characters cut")
    assert "5,000 characters, 1,000 are shown" in text and len(text) < 1100
    assert llm_text(result(content=[{"type": "text", "text": "x" * 1000}]), max_chars=1000) == "x" * 1000


def test_structured_content_as_json_when_there_is_no_text() -> None:
    r = result(content=[], structuredContent={"temp": 21, "city": "Zürich"})
    assert llm_text(r) == '{"temp": 21, "city": "Zürich"}'


def test_other_content_is_described_rather_than_dropped() -> None:
    r = result(
        content=[
            {"type": "image", "data": "AA==", "mimeType": "image/png"},
            {"type": "resource_link", "uri": "file:///a", "name": "a"},
            {"type": "resource", "resource": {"uri": "file:///b.bin", "blob": "AA=="}},
        ]
    )
    assert llm_text(r) == (
        "[image: image/png, 1 byte]\n[resource link: file:///a]\n"
        "[resource: file:///b.bin (1 byte); not shown]"
    )


def test_embedded_text_resources_count_as_text() -> None:
    r = result(content=[{"type": "resource", "resource": {"uri": "file:///a.txt", "text": "contents"}}])
    assert llm_text(r) == "contents"


def test_errors_read_error_colon_and_are_short() -> None:
    assert llm_text(result(content=[{"type": "text", "text": "disk full"}], isError=True)) == "Error: disk full"
    assert llm_text(result(content=[{"type": "text", "text": "Error executing tool x: bad"}], isError=True)) == (
        "Error executing tool x: bad"
    )
    assert llm_text(result(content=[], isError=True)) == "Error: the tool failed without saying why"
    long = llm_text(result(content=[{"type": "text", "text": "x" * 10_000}], isError=True))
    assert long.startswith("Error: xxx") and len(long) < 2100


def test_tool_call_result_keeps_wire_format() -> None:
    r = result(content=[{"type": "text", "text": "5"}], structuredContent={"result": 5})
    call = ToolCallResult.from_mcp("calc", "add", r, 1.5)
    assert call.content == [{"type": "text", "text": "5"}]
    assert call.raw["structuredContent"] == {"result": 5} and call.raw["isError"] is False
    failure = ToolCallResult.failure("calc", "add", "server gone")
    assert (failure.text, failure.is_error) == ("Error: server gone", True)


# --- timing policy ------------------------------------------------------------------------------------


def test_backoff_doubles_from_one_second_to_a_minute_with_jitter() -> None:
    policy = ConnectionPolicy()
    assert [policy.backoff_delay(n, rand=lambda: 0.0) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert policy.backoff_delay(3, rand=lambda: 1.0) == pytest.approx(4 * 0.8)
    delays = {policy.backoff_delay(5) for _ in range(20)}
    assert len(delays) > 1 and all(16 * 0.8 <= d <= 16 for d in delays)


@pytest.mark.parametrize(
    ("command", "args", "runner"),
    [
        ("npx", ["-y", "time-mcp"], True),
        ("/usr/local/bin/uvx", ["mcp-server-time"], True),
        ("npx.cmd", [], True),
        ("npm", ["exec", "pkg"], True),
        ("uv", ["run", "server.py"], True),
        ("docker", ["run", "-i", "image"], True),
        ("python", ["-m", "server"], False),
        ("node", ["server.js"], False),
        ("uv", ["pip", "list"], False),
    ],
)
def test_package_runners_get_the_long_first_start_timeout(command: str, args: list[str], runner: bool) -> None:
    assert is_package_runner(command, args) is runner
    policy = ConnectionPolicy(handshake_timeout=30, package_runner_timeout=180)
    config = parse_server_entry("s", {"command": command, "args": args})
    assert policy.connect_timeout(config) == (180 if runner else 30)
    assert policy.connect_timeout(parse_server_entry("w", {"url": "http://h/mcp"})) == 30
