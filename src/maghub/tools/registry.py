"""The registry of AI-generated MCP tools (SPEC §11; the original's reference §8.5, its flaws fixed).

Registering a design:

1. names checked (the folder and every script file a plain name; 400), the entry script found;
2. the folder claimed by creating it (an existing folder or MCP server of that name: 409), marked as
   an installation in progress, the scripts, ``README.md`` and ``requirements.txt`` written;
3. its own virtual environment made with uv, the MCP SDK always in it: a tool with no dependencies
   works (in the original it could never register);
4. stored as an enabled stdio MCP server with ``ai_generated: true``, running the environment's
   Python on the entry script, and connected at once: a tool that does not start as an MCP server is
   not registered.

Any failure removes the folder (and the server, if it was stored) and reports why in the installer's
or the connection's own words. The tools are the MCP servers that run from their folder, so a
folder nobody registered is not a tool, and deleting the server deletes the folder
(``MCPRegistry``).
"""

from __future__ import annotations

import builtins
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread

from maghub.errors import ConflictError, InvalidInputError
from maghub.mcp.configuration.server_config import ServerConfig, Transport
from maghub.mcp.connections.status import ConnectionState, ServerStatus
from maghub.mcp.errors import UnknownServerError
from maghub.mcp.registry import MCPRegistry
from maghub.paths import tool_dir
from maghub.tools.dependencies import validate_dependencies
from maghub.tools.environment import create_environment
from maghub.tools.folders import (
    mark_installing,
    owned_folder,
    remove_folders,
    sweep_interrupted,
    unmark_installing,
)
from maghub.tools.names import validate_script_file_name, validate_tool_name

log = logging.getLogger(__name__)

ENTRY_SCRIPTS = ("main.py", "server.py", "main_server.py")
"""The entry point, in order of preference: ``main.py`` is what the template asks for; the others are
what the original also ran."""
README_FILE = "README.md"
REQUIREMENTS_FILE = "requirements.txt"


@dataclass(frozen=True)
class ToolDesign:
    """What a generation (or ``POST /mcp/register-tool``) hands over."""

    folder_name: str
    script_files: dict[str, str]
    """File name -> content; names are validated (SPEC §11)."""
    dependencies: list[str]
    """pip requirement strings (may be empty)."""
    readme: str


@dataclass(frozen=True)
class RegisteredTool:
    name: str
    """The folder's name, which is also its MCP server's name."""
    folder: Path
    entry_script: str
    dependencies: list[str]
    status: ServerStatus | None = field(default=None, compare=False)
    """Its MCP server's connection, as it was when this was read."""

    @property
    def connected(self) -> bool:
        return self.status is not None and self.status.connected

    @property
    def tool_names(self) -> list[str]:
        return [tool.name for tool in self.status.tools] if self.status is not None else []


def entry_script_of(file_names: list[str]) -> str:
    for candidate in ENTRY_SCRIPTS:
        if candidate in file_names:
            return candidate
    if len(file_names) == 1:
        return file_names[0]
    raise InvalidInputError(
        f"Which script starts the tool? None of {sorted(file_names)} is named 'main.py': "
        "name the script that calls mcp.run() 'main.py'."
    )


class AIToolRegistry:
    """Built in ``service/runtime.py`` as ``runtime.ai_tools``."""

    def __init__(self, tools_dir: Path, mcp: MCPRegistry, *, install_timeout: float) -> None:
        self.tools_dir = tools_dir
        self._data_dir = tools_dir.parent
        self._mcp = mcp
        self._install_timeout = install_timeout

    async def start(self) -> None:
        """Clear what registrations interrupted by a crash left behind."""
        await sweep_interrupted(self.tools_dir)

    async def register(self, design: ToolDesign) -> RegisteredTool:
        """Install and register ``design``; InvalidInputError (bad names, the installer's or the
        connection's failure) or ConflictError (the name is taken) leave nothing behind."""
        name = validate_tool_name(design.folder_name)
        if not design.script_files:
            raise InvalidInputError("The tool has no script files: give at least 'main.py'.")
        for file_name in design.script_files:
            validate_script_file_name(file_name)
        entry_script = entry_script_of(list(design.script_files))
        dependencies = validate_dependencies(design.dependencies)
        await self._refuse_taken_server_name(name)

        folder = tool_dir(self._data_dir, name)
        await anyio.to_thread.run_sync(self._claim_and_write, folder, design, dependencies)
        stored = False
        try:
            python = await create_environment(folder, dependencies, timeout=self._install_timeout)
            config = ServerConfig(
                name=name,
                transport=Transport.STDIO,
                command=str(python),
                args=[str(folder / entry_script)],
                cwd=str(folder),
                ai_generated=True,
            )
            added = await self._mcp.add([config])
            if not added.added:
                raise ConflictError(f"An MCP server named '{name}' already exists: choose another tool name.")
            stored = True
            status = await self._mcp.manager.connect(name, wait=True, timeout=config.timeout)
            if not status.connected:
                raise InvalidInputError(_not_a_server(name, entry_script, status, config.timeout))
            await anyio.to_thread.run_sync(unmark_installing, folder)
        except BaseException:
            with anyio.CancelScope(shield=True):
                if stored:
                    await self._mcp.remove([name])  # deletes the folder too
                await remove_folders([folder])
            raise
        log.info("AI tool registered", extra={"tool": name, "dependencies": dependencies})
        return RegisteredTool(name, folder, entry_script, dependencies, status)

    async def _refuse_taken_server_name(self, name: str) -> None:
        try:
            await self._mcp.get(name)
        except UnknownServerError:
            return
        raise ConflictError(f"An MCP server named '{name}' already exists: choose another tool name.")

    @staticmethod
    def _claim_and_write(folder: Path, design: ToolDesign, dependencies: list[str]) -> None:
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir()  # the claim: atomic, so two registrations of one name cannot both win
        except FileExistsError:
            raise ConflictError(
                f"A tool folder named '{folder.name}' already exists: choose another name, or delete the "
                "MCP server of that name first."
            ) from None
        try:
            mark_installing(folder)
            for file_name, content in design.script_files.items():
                (folder / file_name).write_text(content, encoding="utf-8")
            (folder / README_FILE).write_text(design.readme, encoding="utf-8")
            (folder / REQUIREMENTS_FILE).write_text("".join(f"{r}\n" for r in dependencies), encoding="utf-8")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    async def list(self) -> builtins.list[RegisteredTool]:
        """The registered tools (servers that run from their tool folder), by name."""
        statuses = self._mcp.manager.status()
        tools = []
        for config in await self._mcp.configs():
            folder = owned_folder(self.tools_dir, config)
            if folder is None:
                continue
            dependencies = await anyio.to_thread.run_sync(_read_requirements, folder)
            entry_script = Path(config.args[0]).name if config.args else ""
            tools.append(RegisteredTool(config.name, folder, entry_script, dependencies, statuses.get(config.name)))
        return sorted(tools, key=lambda tool: tool.name)


def _not_a_server(name: str, entry_script: str, status: ServerStatus, timeout: float) -> str:
    if status.state == ConnectionState.CONNECTING:
        why = f"it did not answer within {timeout:g} s of starting"
    else:
        why = status.last_error or status.state.value
    return (
        f"The tool '{name}' was installed but does not work as an MCP server: {why}. "
        f"Check that '{entry_script}' creates an MCPServer and calls mcp.run()."
    )


def _read_requirements(folder: Path) -> list[str]:
    try:
        text = (folder / REQUIREMENTS_FILE).read_text(encoding="utf-8")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]
