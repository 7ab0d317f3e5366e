"""refresh_cache: PostgreSQL stores its arrays and labels uncompressed (pglz cost a refresh 0.7 s)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 12:50:00
"""

from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

COLUMNS = ("arrays", "labels")


def upgrade() -> None:
    _storage("EXTERNAL")


def downgrade() -> None:
    _storage("EXTENDED")


def _storage(kind: str) -> None:
    # SQLite stores values as given: only PostgreSQL compresses them (TOAST)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE refresh_cache " + ", ".join(
            f"ALTER COLUMN {column} SET STORAGE {kind}" for column in COLUMNS))
