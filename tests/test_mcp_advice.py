"""Advice on one MCP server config (``POST /api/servers/validate``): errors, warnings, suggestions."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

from maghub.mcp.configuration.advice import ABSENT, Advice, ConfigReview, review_server_config

BOGUS = "maghub-no-such-program-7f3a"


def codes(items: list[Advice]) -> list[str]:
    return [item.code for item in items]


def only(items: list[Advice], code: str) -> Advice:
    found = [item for item in items if item.code == code]
    assert len(found) == 1, codes(items)
    return found[0]


def stdio(command: str, args: list[str] | None = None, **more: object) -> dict[str, object]:
    return {"type": "stdio", "command": command, "args": args or [], "enabled": True, **more}


# --- the seed's example -------------------------------------------------------------------------------


def test_seed_example_is_valid_with_a_path_warning() -> None:
    review = review_server_config({"type": "stdio", "command": "npx", "args": ["-y", "test-mcp"], "enabled": True})

    assert review.is_valid
    assert review.errors == []
    assert only(review.warnings, "COMMAND_PATH_WARNING").field == "command"
    assert review.suggestions == []


def test_missing_enabled_is_suggested_with_its_value() -> None:
    review = review_server_config({"type": "stdio", "command": "npx", "args": ["-y", "test-mcp"]})

    assert review.is_valid
    suggestion = only(review.suggestions, "ENABLED_MISSING")
    assert (suggestion.field, suggestion.suggested_value) == ("enabled", True)


def test_mag_disabled_counts_as_explicit() -> None:
    review = review_server_config({"transportType": "stdio", "command": sys.executable, "disabled": False})
    assert "ENABLED_MISSING" not in codes(review.suggestions)


def test_to_json_has_the_seed_shape() -> None:
    data = review_server_config({"type": "stdio", "command": "npx", "args": ["-y", "test-mcp"]}).to_json()

    assert list(data) == ["isValid", "errors", "warnings", "suggestions"]
    assert data["isValid"] is True
    assert data["errors"] == []
    warning = next(item for item in data["warnings"] if item["code"] == "COMMAND_PATH_WARNING")
    assert set(warning) == {"field", "message", "code"}
    assert data["suggestions"] == [
        {
            "field": "enabled",
            "message": data["suggestions"][0]["message"],
            "code": "ENABLED_MISSING",
            "suggestedValue": True,
        }
    ]
    json.dumps(data)  # plain JSON all the way down


def test_to_json_of_errors_has_no_suggested_value() -> None:
    data = review_server_config({"type": "stdio"}).to_json()
    assert data["isValid"] is False
    assert data["errors"] == [{"field": "command", "message": data["errors"][0]["message"], "code": "MISSING_COMMAND"}]


def test_suggested_value_none_is_kept_apart_from_absent() -> None:
    assert Advice("x", "m", "C", None).to_json() == {"field": "x", "message": "m", "code": "C", "suggestedValue": None}
    assert Advice("x", "m", "C").suggested_value is ABSENT
    assert "suggestedValue" not in Advice("x", "m", "C").to_json()


# --- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field", "code"),
    [
        ([], "config", "INVALID_CONFIG"),
        ("npx -y time-mcp", "config", "INVALID_CONFIG"),
        ({"type": "carrier-pigeon", "command": "npx"}, "type", "INVALID_TYPE"),
        ({"transportType": 42}, "transportType", "INVALID_TYPE"),
        ({"type": "stdio"}, "command", "MISSING_COMMAND"),
        ({"type": "stdio", "command": "   "}, "command", "MISSING_COMMAND"),
        ({"type": "stdio", "command": 42}, "command", "INVALID_COMMAND"),
        ({"type": "sse"}, "url", "MISSING_URL"),
        ({"type": "streamable-http", "url": ""}, "url", "MISSING_URL"),
        ({"type": "streamable-http", "url": "ftp://example.com/mcp"}, "url", "INVALID_URL"),
        ({"type": "stdio", "command": "npx", "args": 5}, "args", "INVALID_FIELD"),
        ({"type": "stdio", "command": "npx", "enabled": "maybe"}, "enabled", "INVALID_FIELD"),
        ({"type": "stdio", "command": "npx", "timeout": -1}, "timeout", "INVALID_FIELD"),
        ({"type": "stdio", "command": "npx", "env": {"A": [1]}}, "env", "INVALID_FIELD"),
    ],
)
def test_each_parse_problem_is_an_error_with_a_code(raw: object, field: str, code: str) -> None:
    review = review_server_config(raw)

    assert not review.is_valid
    error = only(review.errors, code)
    assert error.field == field
    assert error.message.endswith(".") and len(error.message) > 20


def test_every_problem_is_reported_at_once() -> None:
    review = review_server_config({"type": "stdio", "command": "npx", "args": 5, "timeout": 0, "enabled": "maybe"})
    assert sorted(item.field for item in review.errors) == ["args", "enabled", "timeout"]


def test_missing_command_message_says_how_to_fix() -> None:
    error = only(review_server_config({}).errors, "MISSING_COMMAND")
    assert error.message.startswith("'command' is required for stdio servers")
    assert "npx" in error.message


def test_not_an_object_names_what_was_given() -> None:
    assert "got an array" in review_server_config([1, 2]).errors[0].message
    assert "got null" in review_server_config(None).errors[0].message


@pytest.mark.parametrize("server_id", ["bad id", "x" * 65, "", "a/b", "ünï"])
def test_bad_server_id_is_one_error(server_id: str) -> None:
    review = review_server_config(stdio(sys.executable), server_id=server_id)

    assert not review.is_valid
    assert codes(review.errors) == ["INVALID_ID"]
    assert review.errors[0].field == "id"


def test_good_server_id_is_fine() -> None:
    assert review_server_config(stdio(sys.executable), server_id="time-mcp_2").is_valid


# --- warnings: the command ----------------------------------------------------------------------------


def test_bare_command_on_path_says_where_it_is_found() -> None:
    name = Path(sys.executable).name
    review = review_server_config(stdio(name, env={"PATH": str(Path(sys.executable).parent)}))

    warning = only(review.warnings, "COMMAND_PATH_WARNING")
    assert str(Path(sys.executable).parent) in warning.message
    assert "COMMAND_NOT_FOUND" not in codes(review.warnings)


def test_bare_command_not_on_path() -> None:
    review = review_server_config(stdio(BOGUS))

    assert review.is_valid  # a warning, not an error: it may be installed later
    assert "not found" in only(review.warnings, "COMMAND_PATH_WARNING").message
    assert BOGUS in only(review.warnings, "COMMAND_NOT_FOUND").message


def test_existing_absolute_command_has_no_command_warning() -> None:
    review = review_server_config(stdio(sys.executable, ["-m", "some_server"]))
    assert review.is_valid
    assert review.warnings == []


def test_missing_absolute_command(tmp_path: Path) -> None:
    review = review_server_config(stdio(str(tmp_path / BOGUS)))
    assert codes(review.warnings) == ["COMMAND_NOT_FOUND"]


def test_relative_command_is_resolved_against_cwd(tmp_path: Path) -> None:
    script = tmp_path / "server.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)

    assert review_server_config(stdio("./server.sh", cwd=str(tmp_path))).warnings == []
    warning = only(
        review_server_config(stdio("./server.sh", cwd=str(tmp_path / "elsewhere"))).warnings, "COMMAND_NOT_FOUND"
    )
    assert "relative to the server's cwd" in warning.message


def test_command_that_is_not_executable(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text("print()\n")
    script.chmod(0o644)
    warning = only(review_server_config(stdio(str(script))).warnings, "COMMAND_NOT_EXECUTABLE")
    assert "python" in warning.message


def test_unusable_command_strings_do_not_raise() -> None:
    for command in ("a\x00b", "\ud800", "x" * 10_000, "/tmp/\x00", "~nobody-here/x"):
        review = review_server_config(stdio(command))
        assert review.is_valid
        assert "COMMAND_NOT_FOUND" in codes(review.warnings)


# --- warnings and suggestions: package runners --------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "args"),
    [("npx", []), ("npx", ["-y"]), ("npx", ["--yes", "--quiet"]), ("uvx", []), ("npm", ["exec", "--yes"])],
)
def test_package_runner_without_a_package(command: str, args: list[str]) -> None:
    review = review_server_config(stdio(command, args))
    warning = only(review.warnings, "NPX_MISSING_PACKAGE")
    assert warning.field == "args"
    assert "NPX_YES_FLAG" not in codes(review.suggestions)


@pytest.mark.parametrize(
    ("command", "args"),
    [("npx", ["-y", "time-mcp"]), ("uvx", ["mcp-server-time"]), ("npm", ["exec", "--yes", "time-mcp"]), ("node", [])],
)
def test_package_runner_with_a_package(command: str, args: list[str]) -> None:
    assert "NPX_MISSING_PACKAGE" not in codes(review_server_config(stdio(command, args)).warnings)


def test_npx_without_yes_gets_suggested_args() -> None:
    suggestion = only(review_server_config(stdio("npx", ["time-mcp", "--utc"])).suggestions, "NPX_YES_FLAG")
    assert suggestion.suggested_value == ["-y", "time-mcp", "--utc"]
    assert suggestion.to_json()["suggestedValue"] == ["-y", "time-mcp", "--utc"]


def test_npx_with_yes_gets_no_suggestion() -> None:
    for args in (["-y", "time-mcp"], ["--yes", "time-mcp"], ["time-mcp", "--yes=true"]):
        assert "NPX_YES_FLAG" not in codes(review_server_config(stdio("npx", args)).suggestions)


def test_command_string_with_arguments_is_split_by_the_parser() -> None:
    review = review_server_config({"command": "npx time-mcp"})
    assert review.is_valid
    assert only(review.suggestions, "NPX_YES_FLAG").suggested_value == ["-y", "time-mcp"]


# --- warnings: credentials in args --------------------------------------------------------------------

SECRETS = [
    (["--api-key=sk-proj-Abc123Def456Ghi789"], "sk-proj-Abc123Def456Ghi789", "API_KEY"),
    (["--token", "hunter2-very-private"], "hunter2-very-private", "TOKEN"),
    (["--githubToken", "plainsecretvalue"], "plainsecretvalue", "GITHUB_TOKEN"),
    (["--header", "Authorization: Bearer abc123def456ghi"], "abc123def456ghi", None),
    (["ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"], "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8", None),
    (["xoxb-1234567890-abcdefghij"], "xoxb-1234567890-abcdefghij", None),
    (["--url=https://x.test/?k=Zx81kQp0vLr7Tn3mWb5yHc"], "Zx81kQp0vLr7Tn3mWb5yHc", None),
]


@pytest.mark.parametrize(("args", "secret", "env_name"), SECRETS)
def test_credential_in_args_is_flagged_and_masked(args: list[str], secret: str, env_name: str | None) -> None:
    review = review_server_config(stdio(sys.executable, ["server.py", *args]))

    warning = only(review.warnings, "SECRET_IN_ARGS")
    assert warning.field == "args"
    assert secret not in warning.message
    assert "env" in warning.message
    if env_name:
        assert env_name in warning.message
    assert secret not in json.dumps(review.to_json())


def test_secret_message_names_the_argument() -> None:
    warning = only(
        review_server_config(stdio(sys.executable, ["s.py", "--api-key", "sk-abcdef1234567890"])).warnings,
        "SECRET_IN_ARGS",
    )
    assert "args[2]" in warning.message
    assert "'--api-key'" in warning.message
    assert "sk-…7890" in warning.message


def test_npx_suggestion_does_not_repeat_a_secret() -> None:
    review = review_server_config(stdio("npx", ["time-mcp", "--api-key", "sk-abcdef1234567890"]))
    assert "SECRET_IN_ARGS" in codes(review.warnings)
    assert only(review.suggestions, "NPX_YES_FLAG").suggested_value is ABSENT
    assert "sk-abcdef1234567890" not in json.dumps(review.to_json())


@pytest.mark.parametrize(
    "args",
    [
        ["-y", "@modelcontextprotocol/server-filesystem", "/Users/Me/Projects2024"],
        ["--max-tokens", "4096"],
        ["--key-file", "/etc/mcp/key.pem"],
        ["--api-key", "$API_KEY"],
        ["--token", "--verbose"],
        ["mcp-server-sqlite-v2", "--db-path", "test.db"],
        ["--port", "8080", "--name", "MyServerConfig2024FinalVersion"],
        ["task-runner-mcp-server-extended"],
    ],
)
def test_ordinary_args_are_not_secrets(args: list[str]) -> None:
    assert "SECRET_IN_ARGS" not in codes(review_server_config(stdio(sys.executable, args)).warnings)


# --- warnings: HTTP transports and fields -------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "insecure"),
    [
        ("http://example.com/mcp", True),
        ("http://10.1.2.3:8000/mcp", True),
        ("https://example.com/mcp", False),
        ("http://localhost:8000/mcp", False),
        ("http://127.0.0.1:8000/mcp", False),
        ("http://[::1]:8000/mcp", False),
        ("http://api.localhost/mcp", False),
    ],
)
def test_plain_http_to_another_host(url: str, insecure: bool) -> None:
    review = review_server_config({"type": "streamable-http", "url": url, "enabled": True})
    assert review.is_valid
    assert ("INSECURE_URL" in codes(review.warnings)) is insecure


def test_sse_is_deprecated() -> None:
    review = review_server_config({"type": "sse", "url": "https://example.com/sse", "enabled": True})
    assert review.is_valid
    assert codes(review.warnings) == ["SSE_DEPRECATED"]
    assert "streamable" in review.warnings[0].message


def test_unknown_fields_are_listed_with_a_guess() -> None:
    review = review_server_config({"comand": "npx", "colour": "blue", "note": None, "name": "x", "enabled": True})

    unknown = [item for item in review.warnings if item.code == "UNKNOWN_FIELD"]
    assert [item.field for item in unknown] == ["comand", "colour"]  # null and identity keys are ignored
    assert "Did you mean 'command'?" in unknown[0].message
    assert codes(review.errors) == ["MISSING_COMMAND"]  # reported even though the config is invalid


def test_dialect_keys_are_not_unknown() -> None:
    mag = {
        "transportType": "stdio",
        "command": sys.executable,
        "args": [],
        "env": {},
        "disabled": False,
        "timeout": 60,
        "autoApprove": [],
        "url": None,
        "ai_generated": True,
    }
    review = review_server_config(mag)
    assert review.is_valid
    assert review.warnings == []
    assert review.suggestions == []


def test_missing_type_is_suggested_from_what_was_inferred() -> None:
    suggestion = only(review_server_config({"url": "https://example.com/mcp"}).suggestions, "TYPE_MISSING")
    assert suggestion.suggested_value == "streamable-http"
    assert (
        only(review_server_config({"command": sys.executable}).suggestions, "TYPE_MISSING").suggested_value == "stdio"
    )


# --- robustness ---------------------------------------------------------------------------------------

JUNK = [
    None,
    True,
    0,
    -1.5,
    float("nan"),
    "",
    "stdio",
    [],
    [{"command": "npx"}],
    {},
    {"": ""},
    {"type": None, "command": None, "args": None},
    {"type": [], "url": {}, "args": [[], {}], "env": [1], "headers": "x"},
    {"command": ["npx"], "args": {"a": 1}, "enabled": None, "timeout": "soon"},
    {"command": "npx", "args": "-y 'unterminated"},
    {"command": "npx", "args": [None, True, 1.5, "-y"]},
    {"type": "sse", "url": "http://[::1"},
    {"type": "sse", "url": "http://host:99999999/sse"},
    {"command": "npx", "args": ["--token"]},
    {"command": "npx", "args": ["--api-key="]},
    {"command": "python", "args": ["x"], "env": {"PATH": ""}},
    {"command": "\u0000", "cwd": "\u0000", "env": {"PATH": "\u0000"}},
    {"mcpServers": {"time": {"command": "npx"}}},
    {"command": "npx", "nested": {"deeper": [[[[{"x": [None]}]]]]}},
]


@pytest.mark.parametrize("raw", JUNK, ids=range(len(JUNK)))
def test_junk_never_raises(raw: object) -> None:
    for server_id in (None, "ok", "not ok"):
        review = review_server_config(raw, server_id=server_id)
        assert isinstance(review, ConfigReview)
        assert review.is_valid is (review.errors == [])
        json.dumps(review.to_json())


def _random_json(rng: random.Random, depth: int = 0) -> object:
    keys = ["type", "transportType", "command", "args", "env", "url", "headers", "enabled", "disabled", "cwd"]
    leaves = [None, True, False, 0, 7, -3.5, "", "npx", "-y", "stdio", "sse", "http://a.b/sse", "/no/such", "--token"]
    kind = rng.randrange(4) if depth < 3 else 0
    if kind == 0:
        return rng.choice(leaves)
    if kind == 1:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(6))}


def test_random_json_never_raises() -> None:
    rng = random.Random(20240101)
    for _ in range(2000):
        raw = _random_json(rng)
        review = review_server_config(raw)
        assert review.is_valid is (review.errors == [])
        json.dumps(review.to_json())
