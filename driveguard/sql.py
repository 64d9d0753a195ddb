"""SQL that matters for speed lives in `sql/*.sql`, loaded by name with bind parameters.

    from driveguard.sql import load_sql
    conn.execute(load_sql("upsert_snapshots"), {...})

Files are read once per process and returned as SQLAlchemy `text()` clauses; parameters are
always bound (`:name`), never formatted into the text.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from sqlalchemy import TextClause, text

from driveguard.config import PROJECT_ROOT

SQL_DIR = PROJECT_ROOT / "sql"
_NAME = re.compile(r"[a-z0-9_]+")


@cache
def sql_text(name: str) -> str:
    """The raw text of `sql/<name>.sql`."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid SQL file name {name!r}")
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file named {name!r} in {SQL_DIR}")
    return path.read_text(encoding="utf-8")


@cache
def load_sql(name: str) -> TextClause:
    """`sql/<name>.sql` as a bindable SQLAlchemy clause."""
    return text(sql_text(name))


def available() -> list[str]:
    return sorted(path.stem for path in Path(SQL_DIR).glob("*.sql"))
