"""Match a column against thousands of ids bound as one parameter, in each dialect."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, String, any_, bindparam, func, select

# An expanding IN list renders and binds one parameter per id in Python on every query;
# a JSON array (SQLite) or an array (PostgreSQL) is one parameter the database unpacks.


def among_ids(column: ColumnElement[Any], dialect: str) -> ColumnElement[bool]:
    """`column` is one of the ids bound as `ids` (give it `ids_param(ids, dialect)`)."""
    if dialect == "sqlite":
        listed = func.json_each(bindparam("ids", type_=String)).table_valued("value")
        return column.in_(select(listed.c.value))
    return column == any_(bindparam("ids", type_=ARRAY(String)))


def ids_param(ids: Sequence[str], dialect: str) -> Any:
    """The `ids` parameter of an `among_ids` clause."""
    return json.dumps(list(ids)) if dialect == "sqlite" else list(ids)
