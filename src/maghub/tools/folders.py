"""Tool folders on disk: which server owns one, and removing them (off the event loop)."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import anyio.to_thread

from maghub.mcp.configuration.server_config import ServerConfig
from maghub.paths import PLAIN_NAME

log = logging.getLogger(__name__)

INSTALLING_MARKER = ".installing"
"""Present while a registration is in progress, holding the registering process's id: a folder whose
marker names a process that is gone was left by a crash and is debris."""


def mark_installing(folder: Path) -> None:
    (folder / INSTALLING_MARKER).write_text(str(os.getpid()), encoding="ascii")


def unmark_installing(folder: Path) -> None:
    (folder / INSTALLING_MARKER).unlink(missing_ok=True)


def owned_folder(tools_dir: Path, config: ServerConfig) -> Path | None:
    """The tool folder ``config`` runs from, when it is an AI-generated tool's: marked so, named like
    its folder, and running the folder's own Python. A server merely marked ``ai_generated`` never
    makes maghub delete a folder it does not run from."""
    if not config.ai_generated or not config.command or not PLAIN_NAME.fullmatch(config.name):
        return None
    folder = tools_dir / config.name
    return folder if folder in Path(config.command).parents else None


async def remove_folders(folders: Iterable[Path]) -> None:
    """Delete the folders (a missing one is fine; a failure is logged, the server is gone anyway)."""
    for folder in folders:
        try:
            await anyio.to_thread.run_sync(shutil.rmtree, folder)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("could not delete a tool folder", extra={"folder": str(folder), "error": str(exc)})


async def remove_tool_folders(tools_dir: Path | None, configs: Iterable[ServerConfig]) -> None:
    """Delete the tool folders of removed servers (SPEC §11: deleting the server deletes the tool)."""
    if tools_dir is not None:
        await remove_folders(folder for config in configs if (folder := owned_folder(tools_dir, config)))


def _interrupted_registrations(tools_dir: Path) -> list[Path]:
    if not tools_dir.is_dir():
        return []
    return [folder for folder in tools_dir.iterdir() if _left_by_a_crash(folder / INSTALLING_MARKER)]


def _left_by_a_crash(marker: Path) -> bool:
    try:
        pid = int(marker.read_text(encoding="ascii").strip() or 0)
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return True
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)  # another maghub on this data dir may be registering right now
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


async def sweep_interrupted(tools_dir: Path) -> list[Path]:
    """Remove folders of registrations a crash interrupted (they never became servers)."""
    debris = await anyio.to_thread.run_sync(_interrupted_registrations, tools_dir)
    if debris:
        log.warning("removing interrupted tool registrations", extra={"folders": [str(f) for f in debris]})
        await remove_folders(debris)
    return debris
