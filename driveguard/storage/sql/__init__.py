"""The storage domain's SQL statements, one a file, shipped inside the package."""

from driveguard.db.sql import SqlFiles

queries = SqlFiles(__name__)
load_sql = queries.load
