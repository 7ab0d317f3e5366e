"""refresh cache: arrays a refresh decoded (the roster, recent activity), kept for the next

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'refresh_cache',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('fingerprint', sa.String(length=200), nullable=False),
        sa.Column('arrays', sa.LargeBinary(), nullable=False),
        sa.Column('labels', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('name', name='pk_refresh_cache'),
    )


def downgrade() -> None:
    op.drop_table('refresh_cache')
