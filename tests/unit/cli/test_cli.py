"""The operator's CLI in-process (click's CliRunner): its commands, exit codes and error messages."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from support.servers import free_port
from support.settings import required_env

from driveguard.cli import cli, main
from driveguard.config import PROJECT_ROOT, get_settings, load_settings
from driveguard.identity.passwords import verify_password

PASSWORD = "correct horse battery staple"


@pytest.fixture
def runner() -> Iterator[CliRunner]:
    """A runner whose commands read the environment it is given, not settings cached by another test."""
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def valid_env(**overrides: str | None) -> dict[str, str | None]:
    secrets = {
        "DATABASE_URL": None,
        "GOOGLE_CLIENT_SECRET": "client-secret-that-must-not-leak",
        "DRIVEGUARD_SECRET_KEY": "signing-secret-that-must-not-leak-0123456789",
    }
    return required_env(**{**secrets, **overrides})


def test_help_lists_every_operator_command(runner: CliRunner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == {
        "db-upgrade", "db-downgrade", "reencrypt-tokens", "hash-password",
        "accounts", "storage", "alerts", "keys", "demo", "run",
    }  # fmt: skip


def test_hash_password_prints_an_entry_the_config_accepts(runner: CliRunner):
    result = runner.invoke(cli, ["hash-password", "--password-stdin", "--name", "admin"], input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    entry = result.stdout.strip()
    assert PASSWORD not in result.output
    settings = load_settings(
        {k: v for k, v in valid_env(DRIVEGUARD_ADMIN_USERS=entry).items() if v is not None}, env_file="/dev/null"
    )
    admin = settings.security.admin_user("admin")
    assert admin is not None
    assert verify_password(PASSWORD, admin.password_hash)
    assert not verify_password(PASSWORD + "!", admin.password_hash)


def test_hash_password_without_a_name_prints_only_the_hash(runner: CliRunner):
    result = runner.invoke(cli, ["hash-password", "--password-stdin"], input=f"{PASSWORD}\r\n")
    assert result.exit_code == 0, result.output
    assert verify_password(PASSWORD, result.stdout.strip())


def test_a_too_short_password_is_refused_with_exit_2(runner: CliRunner):
    result = runner.invoke(cli, ["hash-password", "--password-stdin", "--name", "admin"], input="short\n")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "at least 12 characters" in result.stderr


def test_the_prompt_asks_twice_and_refuses_different_answers(runner: CliRunner):
    same = runner.invoke(cli, ["hash-password"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert same.exit_code == 0, same.output
    assert verify_password(PASSWORD, same.stdout.strip())
    assert PASSWORD not in same.output  # hidden input is never echoed
    different = runner.invoke(cli, ["hash-password"], input=f"{PASSWORD}\n{PASSWORD}?\n")
    assert different.exit_code == 2
    assert "the passwords differ" in different.stderr
    assert "scrypt$" not in different.stdout


def test_a_zero_batch_size_is_a_usage_error(runner: CliRunner):
    result = runner.invoke(cli, ["reencrypt-tokens", "--batch-size", "0"], env=valid_env())
    assert result.exit_code == 2
    assert "--batch-size" in result.stderr


def test_missing_database_url_names_the_variable_and_exits_2(runner: CliRunner):
    env = valid_env()
    result = runner.invoke(cli, ["reencrypt-tokens", "--json"], env=env)
    assert result.exit_code == 2
    assert "DATABASE_URL is required" in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""
    for secret in (env["GOOGLE_CLIENT_SECRET"], env["DRIVEGUARD_SECRET_KEY"], env["DRIVEGUARD_ENCRYPTION_KEYS"]):
        assert secret not in result.output


def test_a_malformed_secret_is_named_but_never_printed(runner: CliRunner):
    bad_keys = "k1:this-is-not-a-32-byte-key-but-still-secret"
    result = runner.invoke(cli, ["db-upgrade"], env=valid_env(DRIVEGUARD_ENCRYPTION_KEYS=bad_keys))
    assert result.exit_code == 2
    assert "DRIVEGUARD_ENCRYPTION_KEYS" in result.stderr
    assert "this-is-not-a-32-byte-key" not in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_database_is_one_line_without_the_password(runner: CliRunner):
    url = f"postgresql://driveguard:db-password-that-must-not-leak@127.0.0.1:{free_port()}/driveguard"
    result = runner.invoke(cli, ["db-upgrade"], env=valid_env(DATABASE_URL=url))
    assert result.exit_code == 1
    assert "cannot reach the database" in result.stderr
    assert "db-password-that-must-not-leak" not in result.output
    assert "Traceback" not in result.output


def test_main_returns_the_exit_code_for_the_console_script(capsys: pytest.CaptureFixture[str]):
    assert main(["--help"]) == 0
    assert "reencrypt-tokens" in capsys.readouterr().out
    assert main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err
    assert main(["run", "--dag", "x"]) == 2  # a usage error is exit 2, as click's own


def test_the_cli_starts_without_loading_the_database_layer_or_rich():
    probe = (
        "import sys, driveguard.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'alembic', 'rich', 'cryptography'}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert loaded.stdout.strip() == "[]"
