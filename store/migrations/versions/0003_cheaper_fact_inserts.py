"""cheaper fact inserts: daily_activity keyed by (day, source, person_key) without a rowid on
SQLite and without the day index; no person_key index on messages

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

COLUMNS = "day, source, person_key, posts, replies, reactions, reads"


def _facts_table(name: str, key: tuple[str, ...], with_rowid: bool) -> None:
    op.create_table(
        name,
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('source', sa.String(length=32), nullable=False),
        sa.Column('person_key', sa.String(length=64), nullable=False),
        sa.Column('posts', sa.Integer(), nullable=False),
        sa.Column('replies', sa.Integer(), nullable=False),
        sa.Column('reactions', sa.Integer(), nullable=False),
        sa.Column('reads', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['person_key'], ['people.person_key'],
            name='fk_daily_activity_person_key_people', ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint(*key, name='pk_daily_activity'),
        sqlite_with_rowid=with_rowid,
    )


def _rebuild_sqlite_facts(key: tuple[str, ...], with_rowid: bool) -> None:
    """SQLite cannot change a table's key or rowid in place: copy into a new table."""
    _facts_table('_daily_activity_new', key, with_rowid)
    op.execute(
        f"INSERT INTO _daily_activity_new ({COLUMNS}) SELECT {COLUMNS} FROM daily_activity "
        f"ORDER BY {', '.join(key)}"
    )
    op.drop_table('daily_activity')
    op.rename_table('_daily_activity_new', 'daily_activity')


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.drop_index('ix_daily_activity_day', table_name='daily_activity')
        _rebuild_sqlite_facts(('day', 'source', 'person_key'), with_rowid=False)
    else:
        op.drop_index('ix_daily_activity_day', table_name='daily_activity')
        op.drop_constraint('pk_daily_activity', 'daily_activity', type_='primary')
        op.create_primary_key('pk_daily_activity', 'daily_activity',
                              ['day', 'source', 'person_key'])
    op.drop_index('ix_messages_person_key', table_name='messages')


def downgrade() -> None:
    op.create_index('ix_messages_person_key', 'messages', ['person_key'], unique=False)
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_sqlite_facts(('source', 'day', 'person_key'), with_rowid=True)
    else:
        op.drop_constraint('pk_daily_activity', 'daily_activity', type_='primary')
        op.create_primary_key('pk_daily_activity', 'daily_activity',
                              ['source', 'day', 'person_key'])
    op.create_index('ix_daily_activity_day', 'daily_activity', ['day'], unique=False)
