"""MCP server configs: the MAG, hub and Claude Desktop dialects in, the MAG and hub dialects out."""

from __future__ import annotations

import pytest

from maghub.errors import InvalidInputError
from maghub.mcp.errors import InvalidServerConfigError
from maghub.mcp.configuration.server_config import (
    ServerConfig,
    Transport,
    check_unique_names,
    parse_hub_server,
    parse_mcp_servers,
    parse_server_entry,
    to_hub_config,
    to_mag_document,
    to_mag_entry,
)


def problems_of(document: object) -> list[tuple[str | None, str | None, str]]:
    with pytest.raises(InvalidServerConfigError) as caught:
        parse_mcp_servers(document)
    return [(p.server, p.field, p.message) for p in caught.value.problems]


# --- the MAG dialect ----------------------------------------------------------------------------------


def test_mag_entry_with_every_field() -> None:
    [config] = parse_mcp_servers(
        {
            "mcpServers": {
                "fs": {
                    "autoApprove": ["read_file"],
                    "disabled": True,
                    "timeout": 30,
                    "command": "npx",
                    "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
                    "env": {"DEBUG": "1"},
                    "transportType": "stdio",
                    "ai_generated": True,
                }
            }
        }
    )
    assert config == ServerConfig(
        name="fs",
        transport=Transport.STDIO,
        command="npx",
        args=["-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
        env={"DEBUG": "1"},
        enabled=False,
        timeout=30,
        auto_approve=["read_file"],
        ai_generated=True,
    )


def test_mag_web_client_repost_with_nulls_and_extras() -> None:
    # What the original GET /mcp/config returned, sent back by the web client after an edit.
    [config] = parse_mcp_servers(
        {
            "mcpServers": {
                "time": {
                    "autoApprove": [],
                    "disabled": False,
                    "timeout": 60,
                    "command": "uvx",
                    "args": ["mcp-server-time"],
                    "env": None,
                    "transportType": "stdio",
                    "url": None,
                    "type": None,
                    "position": {"x": 1},
                }
            }
        }
    )
    assert config.transport == Transport.STDIO
    assert config.command == "uvx" and config.env == {} and config.url is None
    assert config.extra_fields() == {"position": {"x": 1}}


@pytest.mark.parametrize(
    ("entry", "transport"),
    [
        ({"url": "http://127.0.0.1:9000/mcp"}, Transport.STREAMABLE_HTTP),
        ({"url": "http://127.0.0.1:9000/sse"}, Transport.SSE),  # inferred from the path
        ({"url": "http://127.0.0.1:9000/sse/"}, Transport.SSE),
        ({"transportType": "sse", "url": "http://h/events"}, Transport.SSE),
        ({"transportType": "streamable-http", "url": "http://h/x"}, Transport.STREAMABLE_HTTP),
        ({"transportType": "streamablehttp", "url": "http://h/x"}, Transport.STREAMABLE_HTTP),
        ({"type": "sse", "url": "http://h/mcp"}, Transport.SSE),  # MAG's alias beats the path
        ({"type": "streamable_http", "transportType": "sse", "url": "http://h/x"}, Transport.STREAMABLE_HTTP),
        # An explicit transport wins over the url (the original switched these to HTTP).
        ({"transportType": "stdio", "command": "python", "url": "http://h/mcp"}, Transport.STDIO),
    ],
)
def test_mag_transport_normalisation(entry: dict[str, object], transport: Transport) -> None:
    assert parse_server_entry("s", entry).transport == transport


def test_explicit_stdio_with_only_a_url_says_how_to_fix_it() -> None:
    [(server, field, message)] = problems_of({"mcpServers": {"web": {"transportType": "stdio", "url": "http://h/mcp"}}})
    assert (server, field) == ("web", "command")
    assert "stdio" in message and "streamable_http" in message and "url" in message


def test_command_line_in_one_string_is_split() -> None:
    # The API reference writes {"command": "python server.py"}.
    config = parse_server_entry("s", {"command": "python server.py --name 'my server'", "transportType": "stdio"})
    assert (config.command, config.args) == ("python", ["server.py", "--name", "my server"])
    config = parse_server_entry("s", {"command": "python", "args": "server.py -v"})
    assert (config.command, config.args) == ("python", ["server.py", "-v"])


def test_numbers_in_args_and_env_become_strings() -> None:
    config = parse_server_entry(
        "s", {"command": "srv", "args": ["--port", 8080], "env": {"N": 3, "ON": True, "X": None}}
    )
    assert config.args == ["--port", "8080"]
    assert config.env == {"N": "3", "ON": "true"}


def test_mag_names_may_be_lenient_but_url_safe() -> None:
    assert parse_server_entry("高德 地图.v2", {"command": "x"}).name == "高德 地图.v2"
    for bad in ("a/b", "a\\b", " padded", "", "tab\tname", "x" * 101):
        with pytest.raises(InvalidServerConfigError) as caught:
            parse_server_entry(bad, {"command": "x"})
        assert caught.value.problems[0].field == "name"


# --- the hub dialect ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hub_type", "transport"),
    [
        ("stdio", Transport.STDIO),
        ("sse", Transport.SSE),
        ("streamable-http", Transport.STREAMABLE_HTTP),
        ("streamableHttp", Transport.STREAMABLE_HTTP),
        ("http", Transport.STREAMABLE_HTTP),
        ("STREAMABLE_HTTP", Transport.STREAMABLE_HTTP),
    ],
)
def test_hub_types(hub_type: str, transport: Transport) -> None:
    entry = {"type": hub_type, "command": "npx", "url": "https://example.com/mcp"}
    assert parse_hub_server("time-mcp", entry).transport == transport


def test_hub_entry_round_trip() -> None:
    entry = {
        "type": "sse",
        "url": "https://example.com/mcp",
        "headers": {"Authorization": "Bearer token"},
        "env": {"ENV_VAR": "value"},
        "enabled": True,
    }
    config = parse_hub_server("remote", entry)
    assert config.headers == {"Authorization": "Bearer token"}
    assert to_hub_config(config) == {**entry, "timeout": 60}
    assert parse_hub_server("remote", to_hub_config(config)) == config


def test_hub_ids_follow_the_strict_rule() -> None:
    with pytest.raises(InvalidServerConfigError) as caught:
        parse_hub_server("高德 地图", {"type": "stdio"})
    fields = {problem.field for problem in caught.value.problems}
    assert fields == {"id", "command"}  # both problems at once
    assert "letters, digits" in str(caught.value)


# --- Claude Desktop -----------------------------------------------------------------------------------


def test_claude_desktop_config() -> None:
    configs = parse_mcp_servers(
        {
            "mcpServers": {
                "filesystem": {
                    "command": "npx",
                    "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me"],
                },
                "github": {
                    "command": "docker",
                    "args": ["run", "-i", "ghcr.io/github/github-mcp-server"],
                    "env": {"TOKEN": "t"},
                },
                "remote": {"url": "https://mcp.example.com/mcp"},
            },
            "globalShortcut": "Ctrl+Space",
        }
    )
    assert [(c.name, c.transport) for c in configs] == [
        ("filesystem", Transport.STDIO),
        ("github", Transport.STDIO),
        ("remote", Transport.STREAMABLE_HTTP),
    ]
    assert all(c.enabled for c in configs)


def test_vs_code_servers_key() -> None:
    [config] = parse_mcp_servers({"servers": {"gh": {"type": "http", "url": "https://api.example.com/mcp"}}})
    assert config.transport == Transport.STREAMABLE_HTTP


# --- every problem at once ----------------------------------------------------------------------------


def test_every_problem_of_every_server_is_reported_with_server_field_and_fix() -> None:
    problems = problems_of(
        {
            "mcpServers": {
                "ok": {"command": "npx"},
                "no-command": {"transportType": "stdio"},
                "bad-url": {"type": "sse", "url": "ftp://files.example.com"},
                "no-url": {"transportType": "streamable_http"},
                "bad-transport": {"transportType": "carrier-pigeon", "command": "x"},
                "bad-types": {"command": "x", "args": {"a": 1}, "timeout": -5, "disabled": "maybe", "env": {"K": [1]}},
                "not-an-object": 42,
            }
        }
    )
    by_server: dict[str | None, dict[str | None, str]] = {}
    for server, field, message in problems:
        by_server.setdefault(server, {})[field] = message
    assert "ok" not in by_server
    assert "npx" in by_server["no-command"]["command"]
    assert "http:// or https://" in by_server["bad-url"]["url"]
    assert "http://127.0.0.1:8000/sse" in by_server["bad-url"]["url"]  # an example that fits the transport
    assert "required" in by_server["no-url"]["url"]
    assert "stdio" in by_server["bad-transport"]["transportType"]
    assert set(by_server["bad-types"]) == {"args", "timeout", "disabled", "env"}
    assert "e.g." in by_server["bad-types"]["args"]
    assert "JSON object" in by_server["not-an-object"][None]


@pytest.mark.parametrize(
    "document",
    [None, [], "mcpServers", {"mcpServers": []}, {"mcpServers": "x"}],
)
def test_documents_of_the_wrong_shape(document: object) -> None:
    [(server, _field, message)] = problems_of(document)
    assert server is None and "object" in message


def test_empty_document_is_no_servers() -> None:
    assert parse_mcp_servers({"mcpServers": {}}) == []
    assert parse_mcp_servers({}) == []


def test_config_errors_are_invalid_input_for_the_api_layer() -> None:
    with pytest.raises(InvalidInputError, match="MCP server 'x', field 'command'"):
        parse_server_entry("x", {})


def test_duplicate_names() -> None:
    config = parse_server_entry("a", {"command": "x"})
    with pytest.raises(InvalidServerConfigError, match="unique"):
        check_unique_names([config, config])


# --- rendering ----------------------------------------------------------------------------------------


def test_mag_rendering_has_every_field_like_the_original() -> None:
    stdio = parse_server_entry("local", {"command": "python", "args": ["s.py"], "disabled": True, "timeout": 15})
    web = parse_server_entry("web", {"url": "http://h/mcp", "headers": {"X-Key": "k"}, "custom": 1})
    document = to_mag_document([stdio, web])
    assert document == {
        "mcpServers": {
            "local": {
                "autoApprove": [],
                "disabled": True,
                "timeout": 15,
                "command": "python",
                "args": ["s.py"],
                "env": {},
                "transportType": "stdio",
                "url": None,
            },
            "web": {
                "autoApprove": [],
                "disabled": False,
                "timeout": 60,
                "command": None,
                "args": [],
                "env": {},
                "transportType": "streamable_http",
                "url": "http://h/mcp",
                "headers": {"X-Key": "k"},
                "custom": 1,
            },
        }
    }
    # What is rendered reads back as the same config.
    assert parse_mcp_servers(document) == [stdio, web]


def test_fractional_timeout_survives_rendering() -> None:
    config = parse_server_entry("s", {"command": "x", "timeout": 2.5})
    assert to_mag_entry(config)["timeout"] == 2.5
    assert to_hub_config(config)["timeout"] == 2.5
