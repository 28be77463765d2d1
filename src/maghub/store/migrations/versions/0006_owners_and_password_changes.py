"""graphs get an owner; users remember when their password last changed

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

Existing graphs get no owner: in auth mode only admins may change them (SPEC §9). Tokens issued
before ``password_changed_at`` stop working.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from maghub.store.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("graphs") as batch:
        batch.add_column(sa.Column("owner_id", sa.String(32), nullable=True))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_changed_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("password_changed_at")
    with op.batch_alter_table("graphs") as batch:
        batch.drop_column("owner_id")
