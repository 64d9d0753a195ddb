"""The google domain's SQL statements (the shared rate budget), one a file, shipped inside the package."""

from driveguard.db.sql import SqlFiles

queries = SqlFiles(__name__)
load_sql = queries.load
