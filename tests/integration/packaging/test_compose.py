"""The production shape (docker-compose.yml and the Dockerfile) checked without Docker: the compose
file parses, every service it names exists, every variable it uses is one Driveguard, Airflow,
PostgreSQL or Redis reads, secrets have no defaults, every long-running service has a health check,
Airflow's components agree on their shared settings, and the one image installs from uv.lock frozen
as a non-root user. Where a `docker compose` CLI exists it also validates the file itself."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")

AIRFLOW_SERVICES = {
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-worker",
    "airflow-dag-processor",
    "airflow-triggerer",
}
# Variables of the third-party programs the file configures, besides Airflow's AIRFLOW__SECTION__KEY.
FOREIGN_PREFIXES = ("AIRFLOW__", "POSTGRES_", "REDIS_")
SHELL_VARIABLES = {"HOSTNAME"}
SECRET_NAME = re.compile(r"SECRET|PASSWORD|_KEY|KEYS|TOKEN")
# ${NAME}, ${NAME:?msg}, ${NAME:-default}, ${NAME-default}, $NAME; `$$` is an escaped, container-side `$`.
INTERPOLATION = re.compile(
    r"(?<!\$)\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)
ESCAPED = re.compile(r"\$\$\{?(?P<name>[A-Za-z_][A-Za-z0-9_]*)")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_TEXT)
    assert isinstance(document, dict) and document.get("services"), "no services in docker-compose.yml"
    return document


def known_variables() -> set[str]:
    """What Driveguard reads: every name in driveguard/config.py and .env.example (set or commented)."""
    config = (ROOT / "driveguard" / "config.py").read_text(encoding="utf-8")
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    names = set(re.findall(r'"([A-Z][A-Z0-9_]{2,})"', config))
    names |= set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    return names


def is_known(name: str, known: set[str]) -> bool:
    return name in known or name.startswith(FOREIGN_PREFIXES)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def placeholders(value: str) -> str:
    """The value with each ${...} replaced by a plain word, so URLs built from variables parse."""
    return re.sub(r"\$\{[^}]*\}", "placeholder", value)


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Service name -> condition (a plain list means `service_started`)."""
    value = service.get("depends_on") or {}
    if isinstance(value, list):
        return dict.fromkeys(value, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in value.items()}


def one_shot_jobs(services: dict[str, Any]) -> set[str]:
    """Services others wait on to *finish* (migrations): a job, not a process with a health."""
    waited = {
        name
        for s in services.values()
        for name, cond in depends_on(s).items()
        if cond.endswith("completed_successfully")
    }
    return {name for name in waited if services[name].get("restart") == "no"}


def test_the_file_names_only_services_that_exist_and_has_the_production_roles(compose: dict[str, Any]):
    services = compose["services"]
    for name, service in services.items():
        for other in [*depends_on(service), *(link.split(":")[0] for link in service.get("links", []))]:
            assert other in services, f"{name} depends on {other!r}, which is not a service"
            assert other != name
    assert {"postgres", "redis", "api", "migrate"} | AIRFLOW_SERVICES <= set(services)
    # Two Celery workers by default (one service, replicas; `--scale` adds more).
    worker = services["airflow-worker"]
    assert worker["deploy"]["replicas"] >= 2
    assert worker["command"][:3] == ["airflow", "celery", "worker"]
    assert "%h" in worker["command"][worker["command"].index("--celery-hostname") + 1]  # one name per replica
    # The API in several uvicorn workers.
    api = services["api"]
    assert api["command"] == ["python", "-m", "api"]
    workers = environment(api)["API_WORKERS"]
    default = re.fullmatch(r"\$\{API_WORKERS:-(\d+)\}", workers)
    assert default and int(default.group(1)) >= 2, workers


def test_every_variable_is_one_that_something_reads_and_no_secret_has_a_default(compose: dict[str, Any]):
    known = known_variables()
    assert {"DATABASE_URL", "DRIVEGUARD_SECRET_KEY", "API_WORKERS"} <= known  # the reader found config.py
    used = [m for m in INTERPOLATION.finditer(COMPOSE_TEXT)]
    assert used
    for match in used:
        name = match.group("braced") or match.group("bare")
        assert is_known(name, known), f"${{{name}}} is read by nothing (not in config.py/.env.example)"
        if SECRET_NAME.search(name):
            assert match.group("op") in (":?", None), f"secret {name} must not have a default: {match.group(0)}"
    for match in ESCAPED.finditer(COMPOSE_TEXT):  # expanded by the container's shell
        assert is_known(match.group("name"), known) or match.group("name") in SHELL_VARIABLES, match.group(0)
    # Every secret is required (${NAME:?message}, so `up` stops naming it); repeats may be plain ${NAME}.
    secrets = {name for m in used if SECRET_NAME.search(name := m.group("braced") or m.group("bare"))}
    required = {m.group("braced") for m in used if m.group("op") == ":?"}
    assert secrets >= {
        "POSTGRES_PASSWORD",
        "DRIVEGUARD_SECRET_KEY",
        "DRIVEGUARD_ENCRYPTION_KEYS",
        "GOOGLE_CLIENT_SECRET",
    }
    assert secrets >= {"AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW_PASSWORD"}
    assert secrets <= required, f"secrets used without ${{NAME:?message}}: {sorted(secrets - required)}"

    for name, service in compose["services"].items():
        for key, value in environment(service).items():
            assert is_known(key, known), f"{name}: {key} is read by nothing"
            if SECRET_NAME.search(key) and not key.endswith("_FILE"):
                assert value.startswith("${") and ":-" not in value, f"{name}: {key} has a literal or default value"
            assert "://" not in value or "@" not in value or "${POSTGRES_PASSWORD" in value, (name, key)


def test_every_long_running_service_has_a_health_check_and_waits_for_healthy_dependencies(compose: dict[str, Any]):
    services = compose["services"]
    jobs = one_shot_jobs(services)
    assert jobs == {"migrate"}
    for name, service in services.items():
        if name in jobs:
            continue
        test = (service.get("healthcheck") or {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, f"{name} has no health check"
        for other, condition in depends_on(service).items():
            expected = "service_completed_successfully" if other in jobs else "service_healthy"
            assert condition == expected, f"{name} starts before {other} is {expected}"


def test_the_image_is_built_once_from_the_repository_dockerfile(compose: dict[str, Any]):
    services = compose["services"]
    built = {name: s for name, s in services.items() if "build" in s}
    assert set(built) >= {"api", "migrate"} | AIRFLOW_SERVICES
    assert {s["build"] if isinstance(s["build"], str) else s["build"]["context"] for s in built.values()} == {"."}
    assert len({s.get("image") for s in built.values()}) == 1  # one image, every process
    others = {name: s["image"] for name, s in services.items() if name not in built}
    assert set(others) == {"postgres", "redis"}
    assert others["postgres"].startswith("postgres:") and others["redis"].startswith("redis:")


def test_airflow_components_share_their_settings_and_point_at_services_that_exist(compose: dict[str, Any]):
    services = compose["services"]
    envs = {name: environment(services[name]) for name in AIRFLOW_SERVICES | {"migrate"}}
    shared = (
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__CORE__DAGS_FOLDER",
        "DATABASE_URL",
    )
    for key in shared:
        values = {name: env.get(key) for name, env in envs.items()}
        assert len(set(values.values())) == 1 and None not in values.values(), f"{key} differs: {values}"
    env = envs["airflow-scheduler"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", "DATABASE_URL"):
        url = urlsplit(placeholders(env[key]))
        assert url.scheme == "postgresql+psycopg" and url.hostname == "postgres", key
    assert urlsplit(placeholders(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])).path == "/airflow"
    assert urlsplit(placeholders(env["DATABASE_URL"])).path == "/driveguard"
    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.scheme == "redis" and broker.hostname in services
    # The execution API the workers call is the api-server's, on the port it serves.
    execution = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert execution.hostname == "airflow-api-server" and execution.path == "/execution/"
    api_server = services["airflow-api-server"]
    assert f"api-server --port {execution.port}" in " ".join(api_server["command"])
    assert f"{execution.port}:{execution.port}" in api_server["ports"]
    assert urlsplit(env["AIRFLOW_API_URL"]).netloc == execution.netloc  # Driveguard's Airflow client too
    # The DAG and plugin folders are where the image puts them.
    assert f"COPY dags {env['AIRFLOW__CORE__DAGS_FOLDER']}" in DOCKERFILE
    assert f"COPY plugins {env['AIRFLOW__CORE__PLUGINS_FOLDER']}" in DOCKERFILE


def test_the_dockerfile_installs_the_locked_project_as_a_package_for_a_non_root_user():
    instructions = [line.strip() for line in DOCKERFILE.splitlines() if line.strip() and not line.startswith("#")]
    runs = " ".join(line for line in instructions if line.startswith("RUN"))
    syncs = re.findall(r"uv sync ([^&\n]*)", runs)
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs), syncs
    assert "--no-editable" in syncs[-1]  # the project itself as a package: SQL files from site-packages
    assert any(line.startswith("COPY") and "uv.lock" in line for line in instructions)
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".env", ".venv", "var", ".git"} <= set(ignored)  # no secret or local state in the image


def test_docker_compose_validates_the_file_where_the_cli_has_compose(tmp_path: Path):
    """`docker compose config` needs no daemon; the machines this runs on may have no compose plugin,
    and then the static checks above are the whole check (nothing is skipped silently: it is printed)."""
    docker = shutil.which("docker")
    has_compose = (
        docker and subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode == 0
    )
    if not has_compose:
        print("docker compose is not available here: the compose file was checked statically only")
        return
    env_file = tmp_path / "compose.env"
    required = sorted({m.group("braced") for m in INTERPOLATION.finditer(COMPOSE_TEXT) if m.group("op") == ":?"})
    env_file.write_text("".join(f"{name}=placeholder-{name.lower()}\n" for name in required))
    checked = subprocess.run(
        [docker, "compose", "--env-file", str(env_file), "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
    missing = subprocess.run(
        [docker, "compose", "--env-file", "/dev/null", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode != 0 and "POSTGRES_PASSWORD" in missing.stderr + missing.stdout
