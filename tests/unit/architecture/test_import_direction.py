"""Imports go one way: api/, dags/, plugins/ and the launcher use the core; the core uses none of them.

Read from the source with `ast` (every import statement, also those inside functions), so a lazy
import cannot slip past the rule the way it would past an import-time check.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CORE = ROOT / "driveguard"


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def offending(paths: list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in paths:
        bad = sorted(m for m in imported_modules(path) if any(m == f or m.startswith(f + ".") for f in forbidden))
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    return found


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "migrations" not in p.parts or p.name != "script.py.mako")


def test_the_core_imports_neither_litestar_nor_airflow_nor_the_doors_nor_the_launcher():
    assert (
        offending(python_files(CORE), ("litestar", "airflow", "api", "dags", "plugins", "launcher", "emulator")) == {}
    )


def test_identity_never_uses_storage():
    """Storage needs fresh tokens from identity; identity needs nothing of storage."""
    assert offending(python_files(CORE / "identity"), ("driveguard.storage",)) == {}


@pytest.mark.parametrize("door", ["api", "dags", "plugins"])
def test_no_door_imports_the_launcher_or_the_emulator(door: str):
    assert offending(python_files(ROOT / door), ("launcher", "emulator")) == {}


def test_the_emulator_is_a_separate_program():
    assert offending(python_files(ROOT / "emulator"), ("driveguard", "api", "launcher")) == {}


def test_the_check_itself_sees_a_lazy_import(tmp_path: Path):
    """The rule is only as good as its reader: an import inside a function must be caught."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from litestar import Litestar\n    import airflow.sdk\n")
    assert imported_modules(sample) >= {"litestar", "litestar.Litestar", "airflow.sdk"}
