"""models.secrets_encrypted: a base URL with credentials and the extra headers, encrypted

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05

Existing rows keep their values in clear here (a migration has no key); maghub encrypts them when it
starts (ModelRegistry.seal_stored_secrets, MCPRegistry.start).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("secrets_encrypted", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_column("secrets_encrypted")
