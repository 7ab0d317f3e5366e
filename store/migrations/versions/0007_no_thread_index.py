"""messages: no thread_id index (a starter is found by its key; one B-tree less per message)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 00:40:00
"""

from __future__ import annotations

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_messages_thread_id', table_name='messages')


def downgrade() -> None:
    op.create_index('ix_messages_thread_id', 'messages', ['thread_id'], unique=False)
