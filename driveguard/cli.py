"""The operator's command line: `driveguard <command>` (also `python -m driveguard.cli <command>`).

Built on click, with rich for what a person watches (progress, warnings) and `--json` for scripts.
Everything heavy (settings, SQLAlchemy, Alembic, the vault, rich) is imported inside the command
that needs it, so `--help` and `hash-password` start fast.

Exit codes: 0 done; 1 the work ran but something failed (e.g. tokens that could not be decrypted,
an unreachable database); 2 bad input or configuration (click's usage errors use 2 as well).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console

MIN_PASSWORD_LENGTH = 12


class OperatorError(click.ClickException):
    """A problem the operator can fix: printed as one `Error: ...` message, never a traceback."""

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _as_operator_error(exc: Exception) -> OperatorError | None:
    """The clean message for a known failure; None lets anything else (a bug) keep its traceback.

    The imports are free here: a ConfigError or OperationalError means its module is loaded already.
    """
    from driveguard.config import ConfigError

    if isinstance(exc, ConfigError):  # names the bad variables, never their values
        return OperatorError(str(exc), exit_code=2)
    if "sqlalchemy" in sys.modules:
        from sqlalchemy.exc import OperationalError

        if isinstance(exc, OperationalError):  # the driver's reason, not the URL (which holds the password)
            return OperatorError(f"cannot reach the database: {str(exc.orig).strip()}", exit_code=1)
    return None


class _OperatorCommands(click.Group):
    """Turns configuration and connection errors into one clear message, in one place for all commands."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            problem = _as_operator_error(exc)
            if problem is None:
                raise
            raise problem from None


@click.group(cls=_OperatorCommands, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Driveguard's operator commands: migrations, key rotation and admin passwords."""


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


@cli.command("db-upgrade")
@click.argument("revision", required=False, default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from driveguard.config import get_settings
    from driveguard.db import migrate
    from driveguard.db.engine import get_engine

    engine = get_engine(get_settings())
    migrate.upgrade(engine, revision)
    click.echo(f"database at revision {migrate.current_revision(engine) or 'base'}")


@cli.command("db-downgrade")
@click.argument("revision", required=False, default="-1")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION: -1 (the default) undoes one, base undoes all."""
    from driveguard.config import get_settings
    from driveguard.db import migrate
    from driveguard.db.engine import get_engine

    engine = get_engine(get_settings())
    migrate.downgrade(engine, revision)
    click.echo(f"database at revision {migrate.current_revision(engine) or 'base'}")


@cli.command("reencrypt-tokens")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Accounts per transaction.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object (for scripts).")
def reencrypt_tokens(batch_size: int, as_json: bool) -> None:
    """Re-encrypt every stored Google token and apprise target under the newest DRIVEGUARD_ENCRYPTION_KEYS
    key (idempotent).

    Exits 1 when something could not be decrypted: keep its old key configured until it can.
    """
    import dataclasses
    import json

    from driveguard import audit
    from driveguard.config import get_settings
    from driveguard.db.engine import get_engine, transaction
    from driveguard.identity.vault import Vault, count_pending_reencryption, reencrypt_all
    from driveguard.storage.targets import reencrypt_targets

    settings = get_settings()
    engine = get_engine(settings)
    vault = Vault(settings.security.encryption_keys)
    console = _stderr_console()
    if as_json or not console.is_terminal:
        report = reencrypt_all(engine, vault, batch_size=batch_size)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("re-encrypting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("accounts", total=count_pending_reencryption(engine, vault))
            report = reencrypt_all(
                engine, vault, batch_size=batch_size, on_batch=lambda done: progress.advance(task, done)
            )
    targets = reencrypt_targets(engine, vault, batch_size=batch_size)
    counts: dict[str, Any] = {**dataclasses.asdict(report), "targets": targets}
    with transaction(engine) as db:
        audit.record(db, action=audit.Action.TOKENS_REENCRYPTED, actor="cli", details=counts)
    if as_json:
        click.echo(json.dumps(counts))
    else:
        click.echo(
            f"re-encrypted {report.reencrypted} of {report.examined} accounts under key {report.newest_key_id!r}"
            f"; {report.failed} could not be decrypted"
        )
        click.echo(
            f"re-encrypted {targets['reencrypted']} of {targets['examined']} apprise targets"
            f"; {targets['failed']} could not be decrypted"
        )
        if report.failed or targets["failed"]:
            console.print(
                f"[yellow]{report.failed} account(s), {targets['failed']} target(s) still need an older key[/]: "
                "keep it in "
                "DRIVEGUARD_ENCRYPTION_KEYS (the warnings above name the accounts) and run this again."
            )
    if report.failed or targets["failed"]:
        raise click.exceptions.Exit(1)


@cli.command("hash-password")
@click.option("--name", help="Admin user name; prints a ready DRIVEGUARD_ADMIN_USERS entry.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin instead of prompting.",
)
def hash_password_command(name: str | None, password_stdin: bool) -> None:
    """Hash an admin password for DRIVEGUARD_ADMIN_USERS (never put plaintext there)."""
    if password_stdin:
        password = click.get_text_stream("stdin").readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, prompt_suffix=": ", err=True)
        if click.prompt("Again", hide_input=True, prompt_suffix=": ", err=True) != password:
            raise OperatorError("the passwords differ")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OperatorError(f"use a password of at least {MIN_PASSWORD_LENGTH} characters")

    from driveguard.identity.passwords import hash_password

    encoded = hash_password(password)
    click.echo(f"{name}:{encoded}" if name else encoded)


def main(argv: list[str] | None = None) -> int:
    """The `driveguard` console script and `python -m driveguard.cli`: run one command, return its exit code."""
    try:
        cli.main(args=argv, prog_name="driveguard")
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
