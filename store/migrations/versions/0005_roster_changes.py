"""roster changes: person_attributes keeps only what changed from the snapshot before

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 12:30:00

Before this revision every snapshot stored every cell. Afterwards (store/roster.py) a cell is
stored where it differs from the snapshot before, a person back in the roster gets every cell,
and a person gone from it one `~absent` row. The upgrade rewrites stored snapshots so; the
state in effect on every day stays the same.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

ABSENT = '~absent'
PAIRS = 'uptake_roster_pairs'  # each snapshot and the one before it
PRESENT = 'uptake_roster_present'  # who is in each snapshot, as stored before the upgrade

BLANKS = f"""
INSERT INTO person_attributes (person_key, attribute, valid_from, value)
SELECT p.person_key, p.attribute, s.cur, NULL
FROM {PAIRS} s JOIN person_attributes p ON p.valid_from = s.prev
WHERE p.value IS NOT NULL
  AND EXISTS (SELECT 1 FROM {PRESENT} c WHERE c.person_key = p.person_key AND c.as_of = s.cur)
  AND NOT EXISTS (SELECT 1 FROM person_attributes c
                  WHERE c.person_key = p.person_key AND c.attribute = p.attribute
                    AND c.valid_from = s.cur)
"""
GONE = f"""
INSERT INTO person_attributes (person_key, attribute, valid_from, value)
SELECT p.person_key, '{ABSENT}', s.cur, NULL
FROM {PAIRS} s JOIN {PRESENT} p ON p.as_of = s.prev
WHERE NOT EXISTS (SELECT 1 FROM {PRESENT} c WHERE c.person_key = p.person_key AND c.as_of = s.cur)
"""
UNCHANGED = f"""
DELETE FROM person_attributes
WHERE attribute <> '{ABSENT}' AND EXISTS (
  SELECT 1 FROM {PAIRS} s JOIN person_attributes p ON p.valid_from = s.prev
  WHERE s.cur = person_attributes.valid_from
    AND p.person_key = person_attributes.person_key
    AND p.attribute = person_attributes.attribute
    AND (p.value = person_attributes.value
         OR (p.value IS NULL AND person_attributes.value IS NULL)))
OR attribute <> '{ABSENT}' AND value IS NULL AND EXISTS (
  SELECT 1 FROM {PAIRS} s JOIN {PRESENT} p ON p.as_of = s.prev
  WHERE s.cur = person_attributes.valid_from AND p.person_key = person_attributes.person_key
    AND NOT EXISTS (SELECT 1 FROM person_attributes q
                    WHERE q.person_key = p.person_key AND q.attribute = person_attributes.attribute
                      AND q.valid_from = s.prev))
"""


def upgrade() -> None:
    op.create_table(
        PAIRS,
        sa.Column('cur', sa.Date(), primary_key=True),
        sa.Column('prev', sa.Date(), nullable=False),
    )
    op.create_table(
        PRESENT,
        sa.Column('person_key', sa.String(length=64), primary_key=True),
        sa.Column('as_of', sa.Date(), primary_key=True),
    )
    op.execute(
        f"INSERT INTO {PAIRS} (cur, prev) SELECT s.as_of, "
        "(SELECT max(r.as_of) FROM roster_snapshots r WHERE r.as_of < s.as_of) "
        "FROM roster_snapshots s "
        "WHERE EXISTS (SELECT 1 FROM roster_snapshots r WHERE r.as_of < s.as_of)"
    )
    op.execute(f"INSERT INTO {PRESENT} (person_key, as_of) "
               "SELECT DISTINCT person_key, valid_from FROM person_attributes")
    # blanks and absences first: the deletion compares with every snapshot's full rows; a
    # blank where the person had no such cell before is no change either
    op.execute(BLANKS)
    op.execute(GONE)
    op.execute(UNCHANGED)
    op.drop_table(PRESENT)
    op.drop_table(PAIRS)


def downgrade() -> None:
    """Every snapshot's every cell again (absences become missing rows)."""
    from store.roster import state_at

    bind = op.get_bind()
    attributes = sa.table(
        'person_attributes', sa.column('person_key'), sa.column('attribute'),
        sa.column('valid_from', sa.Date()), sa.column('value'),
    )
    days = [_as_date(d) for d in bind.execute(
        sa.text("SELECT as_of FROM roster_snapshots ORDER BY as_of")).scalars()]
    for day in reversed(days):  # a snapshot's state reads only the rows up to it
        state = state_at(bind, day)
        bind.execute(attributes.delete().where(attributes.c.valid_from == day))
        rows = [{"person_key": k, "attribute": a, "valid_from": day, "value": v}
                for k, values in state.items() for a, v in values.items()]
        if rows:
            bind.execute(attributes.insert(), rows)


def _as_date(value: object) -> dt.date:
    return dt.date.fromisoformat(str(value)[:10])
