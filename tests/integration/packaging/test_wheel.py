"""The built wheel is what production installs: it must carry every SQL file and the migrations,
and leave the development launcher out. Built with `uv build`, installed into a fresh venv, and
read there by name, so a file that only exists in the source checkout fails this test."""

from __future__ import annotations

import json
import subprocess
import sysconfig
import venv
import zipfile
from pathlib import Path

from driveguard.db import migrate

ROOT = Path(__file__).resolve().parents[3]
UV = ROOT / ".venv" / ".uv" / "bin" / "uv"

# Runs inside the fresh venv: which driveguard it imported, and every SQL file read by name.
PROBE = """
import importlib, json, sys
import driveguard
from driveguard.db import migrate

loaded = {}
for package in sys.argv[1:]:
    module = importlib.import_module(package)
    names = module.queries.names()
    for name in names:
        module.load_sql(name)  # a bindable clause, as the product uses it
    loaded[package] = {name: module.queries.text(name) for name in names}
print(json.dumps({"driveguard": driveguard.__file__, "head": migrate.head_revision(), "sql": loaded}))
"""


def _source_sql() -> dict[str, dict[str, str]]:
    """Every `.sql` file of the product's packages, by SQL package and name."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted((ROOT / "driveguard").rglob("*.sql")):
        package = ".".join(path.parent.relative_to(ROOT).parts)
        found.setdefault(package, {})[path.stem] = path.read_text(encoding="utf-8")
    return found


def test_the_wheel_ships_every_sql_file_and_an_installed_copy_reads_each_by_name(tmp_path: Path):
    built = subprocess.run(
        [str(UV), "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("driveguard-*.whl")

    names = set(zipfile.ZipFile(wheel).namelist())
    source = _source_sql()
    assert source, "the source tree has no SQL files: the test would prove nothing"
    expected = {f"{package.replace('.', '/')}/{name}.sql" for package, files in source.items() for name in files}
    assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"
    assert not [n for n in names if n.startswith(("launcher/", "tests/"))], "dev-only code in the wheel"
    assert any(n.startswith("driveguard/db/migrations/versions/") for n in names)
    # The pages' templates and static files (the vendored Swagger UI and its licence too) are package data.
    assets = {
        str(p.relative_to(ROOT))
        for folder in ("templates", "static")
        for p in (ROOT / "api" / "pages" / folder).rglob("*")
        if p.is_file()
    }
    assert "api/pages/static/vendor/swagger-ui/LICENSE" in assets and "api/pages/templates/me.html" in assets
    assert assets <= names, f"missing from the wheel: {sorted(assets - names)}"

    # A fresh venv (no system site-packages) gets driveguard from the wheel only. Its dependencies
    # come from the project's venv through a .pth file, which puts them *after* the wheel's copy.
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    python = target / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    fresh_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(fresh_site, "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    # -I: no PYTHONPATH, no user site, no current directory (the checkout must not leak in).
    probe = subprocess.run(
        [str(python), "-I", "-c", PROBE, *sorted(source)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    report = json.loads(probe.stdout)

    assert Path(report["driveguard"]).is_relative_to(target), report["driveguard"]
    assert report["head"] == migrate.head_revision()  # the migrations shipped too
    assert report["sql"] == source  # every file, by name, with the checkout's exact text
