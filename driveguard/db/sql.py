"""SQL lives in `.sql` files inside the domain packages (`driveguard/<domain>/sql/`), one statement
a file, loaded by name with bind parameters:

    from driveguard.storage.sql import load_sql
    conn.execute(load_sql("upsert_snapshots"), {...})

The files are package data read through `importlib.resources`, so an installed wheel finds them
as well as a source checkout. Each is read once per process; parameters are always bound
(`:name`), never formatted into the text.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from sqlalchemy import TextClause, text

_NAME = re.compile(r"[a-z0-9_]+")


@cache
def _read(package: str, name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid SQL file name {name!r}")
    resource = resources.files(package).joinpath(f"{name}.sql")
    if not resource.is_file():
        raise FileNotFoundError(f"no SQL file named {name!r} in {package}")
    return resource.read_text(encoding="utf-8")


@cache
def _clause(package: str, name: str) -> TextClause:
    return text(_read(package, name))


class SqlFiles:
    """The `.sql` files of one package."""

    def __init__(self, package: str) -> None:
        self.package = package

    def text(self, name: str) -> str:
        """The raw text of `<name>.sql`."""
        return _read(self.package, name)

    def load(self, name: str) -> TextClause:
        """`<name>.sql` as a bindable SQLAlchemy clause."""
        return _clause(self.package, name)

    def names(self) -> list[str]:
        return sorted(
            entry.name.removesuffix(".sql")
            for entry in resources.files(self.package).iterdir()
            if entry.name.endswith(".sql")
        )
