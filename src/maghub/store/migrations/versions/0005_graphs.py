"""graphs and their prompt files

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from maghub.store.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "graphs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        # Plain JSON, not JSONB: a graph is returned as submitted, keys in their order.
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("readme", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graphs")),
        sa.UniqueConstraint("name", name=op.f("uq_graphs_name")),
    )
    op.create_table(
        "graph_prompt_files",
        sa.Column("graph_id", sa.String(32), nullable=False),
        sa.Column("file_name", sa.String(200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["graph_id"], ["graphs.id"], name=op.f("fk_graph_prompt_files_graph_id_graphs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("graph_id", "file_name", name=op.f("pk_graph_prompt_files")),
    )


def downgrade() -> None:
    op.drop_table("graph_prompt_files")
    op.drop_table("graphs")
