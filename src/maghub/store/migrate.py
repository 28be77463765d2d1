"""Migrations at startup, on an existing connection: nothing to do when the schema is at the newest
revision already (one query), else Alembic.

Alembic is imported only for a real upgrade: loading it costs a few tenths of a second, which every
start would pay otherwise. The newest revision is read from the migration scripts themselves.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
VERSION_TABLE = "alembic_version"

# Any constant works; it only has to be the same in every maghub process sharing a database.
_PG_MIGRATION_LOCK_ID = 0x6D6167687562


@cache
def head_revision() -> str | None:
    """The newest revision of the migration scripts; None unless there is exactly one head (Alembic
    then decides what to do). Parses each script's ``revision`` and ``down_revision`` without running it."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in VERSIONS_DIR.glob("[!_]*.py"):
        assigned = _module_constants(script, {"revision", "down_revision"})
        revisions.add(str(assigned["revision"]))
        down = assigned.get("down_revision")
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):  # a merge revision has several
            parents.update(down)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def schema_is_current(connection: Connection) -> bool:
    """Whether the database is at :func:`head_revision` already."""
    head = head_revision()
    if head is None or not inspect(connection).has_table(VERSION_TABLE):
        return False
    versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return versions == [head]


def upgrade_to_head(connection: Connection) -> None:
    from alembic import command  # only here: see the module docstring

    if connection.dialect.name == "postgresql":
        # Two servers starting at once against one database must not both create the tables.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK_ID})")
    command.upgrade(alembic_config(connection), "head")


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config  # only here: see the module docstring

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _module_constants(script: Path, names: set[str]) -> dict[str, object]:
    """The literal values assigned to ``names`` at the top level of a Python file."""
    constants: dict[str, object] = {}
    for node in ast.parse(script.read_text(encoding="utf-8"), filename=str(script)).body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in names:
                constants[target.id] = ast.literal_eval(value)
    return constants
