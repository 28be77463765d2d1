"""AI-generated MCP tools (SPEC §11): ``/mcp/register-tool``, ``/mcp/ai-tools``,
``/mcp/ai-generator-template``, over real HTTP with a real uv, real virtual environments and the
tool running as a real stdio MCP server.

The environment tests are marked ``slow``: each makes a virtual environment (the MCP SDK comes from
uv's cache in about 1.5 s).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from maghub.mcp.tools import ToolSpec
from maghub.settings import Settings
from maghub.testing.harness import RunningMaghub, running_maghub
from maghub.tools.dependencies import parse_dependencies
from maghub.tools.folders import INSTALLING_MARKER
from maghub.tools.template import example_server, generator_template, raw_template

MAIN_ONLY = {"main.py": "print('never run')\n"}


def tools_dir(maghub: RunningMaghub) -> Path:
    return maghub.runtime.settings.data_dir / "tools"


def leftovers(maghub: RunningMaghub) -> list[str]:
    folder = tools_dir(maghub)
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


async def server_names(maghub: RunningMaghub) -> list[str]:
    return sorted((await maghub.client.get("/mcp/config")).json()["mcpServers"])


async def register(maghub: RunningMaghub, **body: object) -> tuple[int, dict]:
    design = {"folder_name": "text_stats", "script_files": MAIN_ONLY, "readme": "# text stats", **body}
    response = await maghub.client.post("/mcp/register-tool", json=design)
    return response.status_code, response.json()


async def call(maghub: RunningMaghub, server: str, tool: str, **params: object) -> dict:
    response = await maghub.client.post(
        "/mcp/test-tool", json={"server_name": server, "tool_name": tool, "params": params}
    )
    assert response.status_code == 200, response.text
    return response.json()


# --- the round trip --------------------------------------------------------------------------------


@pytest.mark.slow
async def test_the_templates_example_registers_connects_answers_and_is_deleted_with_its_server(
    maghub: RunningMaghub,
) -> None:
    # The template's own example server, with no dependencies (the original could never register that).
    status, body = await register(
        maghub,
        folder_name="text_stats",
        script_files={"main.py": example_server()},
        dependencies="",
        port=8080,  # the original web client sends it; ignored
    )
    assert status == 200, body
    assert body["status"] == "success" and body["message"] == "MCP工具 'text_stats' 注册成功"
    tool = body["tool"]
    assert tool["connected"] is True and sorted(tool["tools"]) == ["count_words", "top_words"]
    assert tool["entry_script"] == "main.py" and tool["dependencies"] == []

    folder = tools_dir(maghub) / "text_stats"
    assert sorted(path.name for path in folder.iterdir()) == [".venv", "README.md", "main.py", "requirements.txt"]
    assert (folder / "README.md").read_text() == "# text stats"
    # The environment runs the interpreter maghub runs on, with the SDK maghub uses.
    python = folder / ".venv" / "bin" / "python"
    probe = "import sys, importlib.metadata as m; print(sys.version.split()[0], m.version('mcp'))"
    reported = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    from importlib.metadata import version

    assert reported == [sys.version.split()[0], version("mcp")]

    assert (await maghub.client.get("/mcp/ai-tools")).json() == ["text_stats"]
    config = (await maghub.client.get("/mcp/config")).json()["mcpServers"]["text_stats"]
    assert config["ai_generated"] is True and config.get("disabled") is not True
    assert config["command"] == str(python) and config["args"] == [str(folder / "main.py")]
    assert (await maghub.client.get("/mcp/status")).json()["text_stats"]["connected"] is True

    counted = await call(maghub, "text_stats", "count_words", text="one two three four five")
    assert counted["status"] == "success" and counted["result"] == "5"
    ranked = await call(maghub, "text_stats", "top_words", text="b a b c b a", limit=2)
    assert ranked["status"] == "success" and ranked["structured_content"] == {"result": ["b", "a"]}
    refused = await call(maghub, "text_stats", "top_words", text="x", limit=0)
    assert refused["status"] == "error" and "limit must be at least 1" in refused["error"]

    # Registering the same name again is refused, and the tool is untouched.
    status, body = await register(maghub, folder_name="text_stats")
    assert status == 409 and "already exists" in body["detail"]
    assert (folder / "main.py").read_text() == example_server()

    removed = await maghub.client.post("/mcp/remove", json=["text_stats"])
    assert removed.status_code == 200 and removed.json()["ai_generated_count"] == 1
    assert not folder.exists()
    assert (await maghub.client.get("/mcp/ai-tools")).json() == []


# --- failures leave nothing behind -----------------------------------------------------------------


@pytest.mark.slow
async def test_a_dependency_that_does_not_exist_reports_the_installers_message(maghub: RunningMaghub) -> None:
    status, body = await register(maghub, dependencies="maghub-no-such-package-7f3a9c")
    assert status == 400, body
    assert "Installing the tool's dependencies failed" in body["detail"]
    assert "maghub-no-such-package-7f3a9c" in body["detail"] and "not found" in body["detail"]
    assert leftovers(maghub) == [] and await server_names(maghub) == []


@pytest.mark.slow
async def test_a_script_that_is_no_mcp_server_is_not_registered(maghub: RunningMaghub) -> None:
    # Its dependency is installed (the script prints its version), but the script is no server.
    script = "import sys\nimport six\nsys.exit(f'six {six.__version__} is here, but this is no MCP server')\n"
    status, body = await register(maghub, folder_name="broken", script_files={"main.py": script}, dependencies="six")
    assert status == 400, body
    assert "'broken' was installed but does not work as an MCP server" in body["detail"]
    assert "is here, but this is no MCP server" in body["detail"]
    assert leftovers(maghub) == [] and await server_names(maghub) == []
    assert (await maghub.client.get("/mcp/ai-tools")).json() == []


async def test_an_install_over_the_time_limit_is_stopped_and_removed(settings: Settings) -> None:
    settings.tool_install_timeout_seconds = 0.001
    async with running_maghub(settings) as maghub:
        status, body = await register(maghub)
        assert status == 400, body
        assert "did not finish within 0.001 s" in body["detail"]
        assert "MAGHUB_TOOL_INSTALL_TIMEOUT_SECONDS" in body["detail"]
        assert leftovers(maghub) == [] and await server_names(maghub) == []


HOSTILE_OR_UNUSABLE = [
    ("folder_name", "../escape", "Invalid tool name"),
    ("folder_name", "a/b", "Invalid tool name"),
    ("folder_name", ".hidden", "Invalid tool name"),
    ("folder_name", "", "Invalid tool name"),
    ("folder_name", "x" * 65, "Invalid tool name"),
    ("folder_name", "名字", "Invalid tool name"),
    ("script_files", {"../main.py": "x"}, "Invalid script file name"),
    ("script_files", {"sub/main.py": "x"}, "Invalid script file name"),
    ("script_files", {"sub\\main.py": "x"}, "Invalid script file name"),
    ("script_files", {"main.py": "x", "notes.txt": "x"}, "Invalid script file name"),
    ("script_files", {".py": "x"}, "Invalid script file name"),
    ("script_files", {}, "no script files"),
    ("script_files", {"a.py": "x", "b.py": "x"}, "name the script that calls mcp.run() 'main.py'"),
    ("dependencies", "--index-url=http://127.0.0.1:9/simple", "Invalid dependency"),
    ("dependencies", ["-e", "."], "Invalid dependency"),
    ("dependencies", "/etc/passwd", "Invalid dependency"),
    ("dependencies", ["./local-package"], "Invalid dependency"),
]


async def test_hostile_or_unusable_designs_are_refused_before_anything_is_written(maghub: RunningMaghub) -> None:
    for field, value, says in HOSTILE_OR_UNUSABLE:
        status, body = await register(maghub, **{field: value})
        assert status == 400 and says in body["detail"], (field, value, body)
    assert leftovers(maghub) == [] and await server_names(maghub) == []
    assert not (maghub.runtime.settings.data_dir.parent / "escape").exists()


async def test_a_name_taken_by_a_folder_or_a_server_is_a_conflict(maghub: RunningMaghub) -> None:
    taken = tools_dir(maghub) / "taken"
    taken.mkdir(parents=True)
    (taken / "keep.txt").write_text("mine")
    status, body = await register(maghub, folder_name="taken")
    assert status == 409 and "folder named 'taken' already exists" in body["detail"]
    assert (taken / "keep.txt").read_text() == "mine"

    server = {"command": "python", "args": ["server.py"], "disabled": True}
    assert (await maghub.client.post("/mcp/add", json={"mcpServers": {"plain": server}})).status_code == 200
    status, body = await register(maghub, folder_name="plain")
    assert status == 409 and "MCP server named 'plain' already exists" in body["detail"]
    assert leftovers(maghub) == ["taken"]


async def test_deleting_a_server_only_marked_ai_generated_keeps_a_folder_it_does_not_run_from(
    maghub: RunningMaghub,
) -> None:
    folder = tools_dir(maghub) / "lookalike"
    folder.mkdir(parents=True)
    server = {"command": "python", "args": ["elsewhere.py"], "ai_generated": True, "disabled": True}
    assert (await maghub.client.post("/mcp/add", json={"mcpServers": {"lookalike": server}})).status_code == 200
    assert (await maghub.client.get("/mcp/ai-tools")).json() == []  # not a tool: it does not run from there
    assert (await maghub.client.post("/mcp/remove", json=["lookalike"])).status_code == 200
    assert folder.exists()


async def test_a_configuration_without_the_tools_server_deletes_the_tools_folder(maghub: RunningMaghub) -> None:
    folder = tools_dir(maghub) / "dropped"
    (folder / ".venv" / "bin").mkdir(parents=True)
    server = {
        "command": str(folder / ".venv" / "bin" / "python"),
        "args": [str(folder / "main.py")],
        "ai_generated": True,
        "disabled": True,
    }
    assert (await maghub.client.post("/mcp/add", json={"mcpServers": {"dropped": server}})).status_code == 200
    assert (await maghub.client.get("/mcp/ai-tools")).json() == ["dropped"]
    assert (await maghub.client.post("/mcp/config", json={"mcpServers": {}})).status_code == 200
    assert not folder.exists()
    assert (await maghub.client.get("/mcp/ai-tools")).json() == []


async def test_registrations_a_crash_interrupted_are_cleared_at_startup(settings: Settings) -> None:
    probe = [sys.executable, "-c", "import os; print(os.getpid())"]
    ended = subprocess.run(probe, check=True, capture_output=True, text=True)  # a pid that is gone
    tools = settings.data_dir / "tools"
    for name, pid in [("interrupted", ended.stdout.strip()), ("in_progress_elsewhere", "1"), ("unmarked", None)]:
        (tools / name).mkdir(parents=True)
        if pid is not None:
            (tools / name / INSTALLING_MARKER).write_text(pid)
    async with running_maghub(settings):
        assert sorted(path.name for path in tools.iterdir()) == ["in_progress_elsewhere", "unmarked"]


# --- access and the template -----------------------------------------------------------------------


async def test_only_admins_register_tools_in_auth_mode(secured: RunningMaghub, sign_in) -> None:  # noqa: ANN001
    design = {"folder_name": "t", "script_files": MAIN_ONLY}
    anonymous = await secured.client.post("/mcp/register-tool", json=design)
    assert anonymous.status_code == 401
    user = await secured.client.post("/mcp/register-tool", json=design, headers=await sign_in("alice"))
    assert user.status_code == 403 and "admin" in user.json()["detail"]
    # An admin gets past the check (the bad name then says what is wrong).
    admin = await secured.client.post(
        "/mcp/register-tool", json={**design, "folder_name": "../t"}, headers=await sign_in("root")
    )
    assert admin.status_code == 400 and "Invalid tool name" in admin.json()["detail"]
    listed = await secured.client.get("/mcp/ai-tools", headers=await sign_in("alice"))
    assert listed.status_code == 200 and listed.json() == []


async def test_the_template_teaches_the_tags_and_the_sdk_2_server_api(maghub: RunningMaghub) -> None:
    response = await maghub.client.get("/mcp/ai-generator-template")
    assert response.status_code == 200
    body = response.json()
    template = body["template"]
    for tag in (
        "<analysis>",
        "<todo>",
        "<folder_name>",
        '<script_file name="main.py">',
        "<delete_script_file>",
        "<dependencies>",
        "<readme>",
        "<end>END</end>",
    ):
        assert tag in template, tag
    assert "from mcp.server.mcpserver import MCPServer" in template and "mcp.run()" in template
    assert "{TOOLS_DESCRIPTION}" not in template and "No MCP tools are connected right now." in template
    assert body["note"]
    assert "{TOOLS_DESCRIPTION}" in raw_template()


def test_dependency_text_is_split_between_requirements_not_inside_them() -> None:
    assert parse_dependencies("httpx>=0.27 rich\nrequests >= 2, < 3") == ["httpx>=0.27", "rich", "requests>=2,<3"]
    assert parse_dependencies("  ") == []


def test_the_template_lists_the_connected_tools_by_server() -> None:
    tools = [
        ToolSpec("time", "now", "The current\n  time {TOOLS_DESCRIPTION}.", {}, {}),
        ToolSpec("time", "zones", "", {}, {}),
        ToolSpec("files", "read", "Read a file.", {}, {}),
    ]
    template = generator_template(tools)
    assert (
        "### Server: time\n\n- **now**: The current time {TOOLS_DESCRIPTION}.\n- **zones**: (no description)"
        "\n\n### Server: files\n\n- **read**: Read a file." in template
    )
    assert "No MCP tools are connected" not in template
