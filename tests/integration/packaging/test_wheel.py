"""The built wheel is what production installs (the Dockerfile installs the project as a package):
it must carry every SQL file and the migrations, and leave the development launcher out. Built with
`uv build`, installed into a fresh venv (the locked dependencies come from the project's venv, so this
takes seconds), and used there: every SQL file read by name, `python -m api --help`, and Airflow's
DagBag over a copy of the DAG files. A file that only exists in the source checkout fails here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

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


# Runs inside the fresh venv: Airflow's DagBag over a copy of dags/, as the dag-processor reads it.
DAG_PROBE = """
import json, sys
import driveguard
from airflow.dag_processing.dagbag import BundleDagBag

folder = sys.argv[1]
bag = BundleDagBag(dag_folder=folder, bundle_path=folder)
print(json.dumps({"driveguard": driveguard.__file__, "dags": sorted(bag.dag_ids),
                  "errors": {k: str(v)[-500:] for k, v in bag.import_errors.items()}}))
"""


@dataclass
class Installed:
    wheel: Path
    venv: Path
    python: Path
    work: Path
    """An empty directory outside the checkout, the cwd of every probe."""


def _source_sql() -> dict[str, dict[str, str]]:
    """Every `.sql` file of the product's packages, by SQL package and name."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted((ROOT / "driveguard").rglob("*.sql")):
        package = ".".join(path.parent.relative_to(ROOT).parts)
        found.setdefault(package, {})[path.stem] = path.read_text(encoding="utf-8")
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """The wheel built from the checkout and installed (alone) into a fresh venv, once for this module."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [str(UV), "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("driveguard-*.whl")

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
    work = tmp_path / "work"
    work.mkdir()
    yield Installed(wheel, target, python, work)


def test_the_wheel_ships_every_sql_file_and_an_installed_copy_reads_each_by_name(installed: Installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
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

    # -I: no PYTHONPATH, no user site, no current directory (the checkout must not leak in).
    probe = subprocess.run(
        [str(installed.python), "-I", "-c", PROBE, *sorted(source)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=installed.work,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    report = json.loads(probe.stdout)

    assert Path(report["driveguard"]).is_relative_to(installed.venv), report["driveguard"]
    assert report["head"] == migrate.head_revision()  # the migrations shipped too
    assert report["sql"] == source  # every file, by name, with the checkout's exact text


def test_the_installed_api_entry_point_answers_help_without_any_setting(installed: Installed):
    """The image's default command is `python -m api`: its help works from the installed package alone
    (no settings needed), and names the worker count production sets."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DRIVEGUARD_ENV_FILE": os.devnull}
    answer = subprocess.run(
        [str(installed.python), "-I", "-m", "api", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=installed.work,
        env=env,
    )
    assert answer.returncode == 0, answer.stderr[-2000:]
    assert answer.stdout.startswith("usage: python -m api") and "--workers" in answer.stdout
    assert "API_WORKERS" in answer.stdout
    # Without its settings the installed API refuses to start and names what is missing (exit 2).
    refused = subprocess.run(
        [str(installed.python), "-I", "-m", "api"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=installed.work,
        env=env,
    )
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "DRIVEGUARD_SECRET_KEY is required" in refused.stderr


def test_airflow_imports_every_dag_against_the_installed_package(installed: Installed):
    """The image keeps only dags/ as files; the dag-processor must import all of them with no import
    error, each reaching driveguard from the installed package (not the checkout)."""
    folder = installed.work / "dags"
    shutil.copytree(ROOT / "dags", folder, ignore=shutil.ignore_patterns("__pycache__"))
    home = installed.work / "airflow_home"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'unused.db'}",
        "DRIVEGUARD_ENV_FILE": os.devnull,
    }
    probe = subprocess.run(
        [str(installed.python), "-I", "-c", DAG_PROBE, str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=installed.work,
        env=env,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    report = json.loads(probe.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert Path(report["driveguard"]).is_relative_to(installed.venv), report["driveguard"]
    expected = {path.stem for path in (ROOT / "dags").glob("*.py") if not path.name.startswith("_")}
    assert set(report["dags"]) == expected
