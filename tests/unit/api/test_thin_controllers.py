"""The API is a thin door: it reaches the database and the audit log only through the core's services.

Read from the source with `ast` (every import, also those inside functions, and every attribute
use), so a controller that starts opening transactions or writing audit rows again fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
API = ROOT / "api"

FORBIDDEN_MODULES = ("driveguard.db.models", "sqlalchemy.orm")
FORBIDDEN_NAMES = {
    ("driveguard.db.engine", "transaction"),  # services own transactions
    ("driveguard.audit", "record"),  # services write audit rows
    ("driveguard", "audit"),
    ("driveguard.clock", "utcnow"),  # the wall clock: services take the injected clock
}
FORBIDDEN_CALLS = {"record", "transaction", "begin", "now", "utcnow"}
# The composition root chooses the real clock, and hands it to every service.
ALLOWED = {"api/app.py": ["driveguard.clock.utcnow"]}


def findings(path: Path) -> list[str]:
    found: list[str] = []
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith(FORBIDDEN_MODULES)]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith(FORBIDDEN_MODULES):
                found.append(node.module)
            found += [f"{node.module}.{a.name}" for a in node.names if (node.module, a.name) in FORBIDDEN_NAMES]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in FORBIDDEN_CALLS:
            found.append(f"call .{node.func.attr}() at line {node.lineno}")
    return found


def api_files() -> list[Path]:
    return sorted(API.rglob("*.py"))


def test_the_scan_sees_the_api_and_would_catch_an_orm_import(tmp_path: Path):
    assert len(api_files()) > 10
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def handler():\n"
        "    from driveguard.db.models import GoogleAccount\n"
        "    with engine.begin() as conn:\n"
        "        audit.record(conn)\n"
    )
    assert findings(bad) == ["driveguard.db.models", "call .begin() at line 3", "call .record() at line 4"]


def test_no_api_module_imports_orm_models_opens_transactions_or_writes_audit_rows():
    found = {str(p.relative_to(ROOT)): f for p in api_files() if (f := findings(p))}
    assert {name: f for name, f in found.items() if f != ALLOWED.get(name)} == {}
