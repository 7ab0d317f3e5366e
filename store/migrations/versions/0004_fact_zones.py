"""fact zones: the time zone message-derived facts were counted in

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'fact_zones',
        sa.Column('source', sa.String(length=32), nullable=False),
        sa.Column('zone', sa.String(length=64), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('source', name='pk_fact_zones'),
    )
    # messages stored before this revision were counted in a zone nobody recorded: unknown,
    # so the next refresh recounts them once
    op.execute(
        "INSERT INTO fact_zones (source, zone, updated_at) "
        "SELECT 'yammer_export', NULL, CURRENT_TIMESTAMP "
        "WHERE EXISTS (SELECT 1 FROM messages WHERE platform = 'yammer')"
    )


def downgrade() -> None:
    op.drop_table('fact_zones')
