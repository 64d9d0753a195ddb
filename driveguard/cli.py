"""The operator's command line: `driveguard <command>` (also `python -m driveguard.cli <command>`).

Built on click, with rich for what a person watches (progress, warnings) and `--json` for scripts.
Everything heavy (settings, SQLAlchemy, Alembic, the vault, rich) is imported inside the command
that needs it, so `--help` and `hash-password` start fast.

Exit codes: 0 done; 1 the work ran but something failed (e.g. tokens that could not be decrypted,
an unreachable database); 2 bad input or configuration (click's usage errors use 2 as well).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
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
    """Driveguard's operator commands: accounts, storage and alerts, migrations, keys, the demo, pipeline runs."""


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


# -- reading: accounts, storage, alerts (tables for people, --json for scripts) ----------------

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for scripts).")


@contextlib.contextmanager
def _domain_errors() -> Iterator[None]:
    """A domain refusal (no such account, a bad filter, Airflow down) as one `Error:` line:
    2 for the caller's input, 1 for a failure of something else."""
    from driveguard.errors import DriveguardError, InvalidInput, NotFound

    try:
        yield
    except DriveguardError as exc:
        raise OperatorError(exc.detail, exit_code=2 if isinstance(exc, InvalidInput | NotFound) else 1) from None


def _stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def _iso(moment: Any) -> str | None:
    """UTC ISO 8601, whatever the database session's time zone."""
    import datetime as dt

    return None if moment is None else moment.astimezone(dt.UTC).isoformat()


def _when(moment: Any) -> str:
    import datetime as dt

    return "-" if moment is None else f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


def _size(value: int | None) -> str:
    """Bytes for people: binary units, as Google's quota pages count them."""
    if value is None:
        return "-"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(amount) < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def _echo_json(payload: Any) -> None:
    import json

    click.echo(json.dumps(payload, indent=2))


def _engine() -> Any:
    from driveguard.config import get_settings
    from driveguard.db.engine import get_engine

    return get_engine(get_settings())


def _account_json(line: Any) -> dict[str, Any]:
    return {
        "account_id": str(line.account_id),
        "email": line.email,
        "status": line.status,
        "level": line.level,
        "usage_bytes": line.usage_bytes,
        "limit_bytes": line.limit_bytes,
        "usage_percent": line.usage_percent,
        "collected_at": _iso(line.collected_at),
    }


@cli.group("accounts")
def accounts_group() -> None:
    """The Google accounts Driveguard watches."""


@accounts_group.command("list")
@click.option("--level", type=click.Choice(["normal", "warning", "critical"]), help="Only accounts at this level.")
@JSON_OPTION
def accounts_list(level: str | None, as_json: bool) -> None:
    """Every account with its grant status and latest usage, fullest first."""
    from rich.table import Table

    from driveguard.storage import operator

    with _domain_errors():
        lines = operator.accounts(_engine(), level=level)
    if as_json:
        _echo_json({"accounts": [_account_json(line) for line in lines], "count": len(lines)})
        return
    table = Table(title=f"{len(lines)} account(s)")
    for column, justify in (("email", "left"), ("status", "left"), ("level", "left"), ("used", "right"),
                            ("limit", "right"), ("used %", "right"), ("collected", "left")):  # fmt: skip
        table.add_column(column, justify=justify, no_wrap=column == "email")  # type: ignore[arg-type]
    for line in lines:
        table.add_row(
            line.email,
            line.status,
            line.level or "not collected",
            _size(line.usage_bytes),
            "unlimited" if line.usage_bytes is not None and line.limit_bytes is None else _size(line.limit_bytes),
            _percent(line.usage_percent),
            _when(line.collected_at),
        )
    _stdout_console().print(table)


@cli.group("storage")
def storage_group() -> None:
    """One account's storage."""


@storage_group.command("show")
@click.argument("account")
@click.option("--days", type=click.IntRange(1, 3650), default=42, show_default=True, help="Days of history.")
@JSON_OPTION
def storage_show(account: str, days: int, as_json: bool) -> None:
    """ACCOUNT's latest usage and one point per day of its history (ACCOUNT: an email or an account id)."""
    import datetime as dt

    from rich.table import Table

    from driveguard.storage import operator

    since = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=days)
    with _domain_errors():
        shown = operator.account_storage(_engine(), account, since=since)
    history = [
        {"date": p.day.isoformat(), "usage_bytes": p.usage_bytes, "limit_bytes": p.limit_bytes, "source": p.source}
        for p in shown.history
    ]
    if as_json:
        _echo_json({"account": _account_json(shown.account), "growth_7d_bytes": shown.growth_7d_bytes,
                    "history": history})  # fmt: skip
        return
    line, console = shown.account, _stdout_console()
    console.print(f"[bold]{line.email}[/]  ({line.account_id}, grant {line.status})")
    if line.usage_bytes is None:
        console.print("not collected yet")
    else:
        limit = "unlimited" if line.limit_bytes is None else _size(line.limit_bytes)
        growth = "" if shown.growth_7d_bytes is None else f", {_size(shown.growth_7d_bytes)} in 7 days"
        console.print(f"{_size(line.usage_bytes)} of {limit} ({_percent(line.usage_percent)}, {line.level}{growth})")
    table = Table(title=f"daily history, last {days} days ({len(history)} points)")
    for column in ("date", "used", "used %", "source"):
        table.add_column(column, justify="left" if column in ("date", "source") else "right")
    for point in shown.history:
        share = 100 * point.usage_bytes / point.limit_bytes if point.limit_bytes else None
        table.add_row(point.day.isoformat(), _size(point.usage_bytes), _percent(share), point.source)
    console.print(table)


@cli.group("alerts")
def alerts_group() -> None:
    """Storage alerts and their notifications."""


@alerts_group.command("list")
@click.option("--account", help="Only this account (an email or an account id).")
@click.option("--kind", type=click.Choice(["warning", "critical", "critical_repeat", "resolved"]))
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@JSON_OPTION
def alerts_list(account: str | None, kind: str | None, limit: int, as_json: bool) -> None:
    """The newest alerts first, with how many of their notifications were sent, are pending or failed."""
    from rich.table import Table

    from driveguard.storage import operator

    with _domain_errors():
        lines = operator.alerts(_engine(), account=account, kind=kind, limit=limit)
    if as_json:
        payload = [
            {
                "alert_id": str(a.alert_id),
                "email": a.email,
                "kind": a.kind,
                "interval_start": _iso(a.interval_start),
                "usage_percent": a.usage_percent,
                "usage_bytes": a.usage_bytes,
                "limit_bytes": a.limit_bytes,
                "created_at": _iso(a.created_at),
                "deliveries": {"sent": a.sent, "pending": a.pending, "failed": a.failed},
            }
            for a in lines
        ]
        _echo_json({"alerts": payload, "count": len(payload)})
        return
    table = Table(title=f"{len(lines)} alert(s)")
    for column in ("interval", "email", "kind", "used %", "used", "sent", "pending", "failed"):
        table.add_column(
            column, justify="left" if column in ("interval", "email", "kind") else "right", no_wrap=column == "email"
        )
    for a in lines:
        table.add_row(
            _when(a.interval_start), a.email, a.kind, _percent(a.usage_percent),
            _size(a.usage_bytes), str(a.sent), str(a.pending), str(a.failed),
        )  # fmt: skip
    _stdout_console().print(table)


# -- keys ---------------------------------------------------------------------------------------


@cli.group("keys")
def keys_group() -> None:
    """Token-encryption keys (DRIVEGUARD_ENCRYPTION_KEYS)."""


def next_key_id(existing: list[str]) -> str:
    """`k<n+1>` after the highest `k<n>` in use (k1 when none is numbered that way)."""
    import re

    numbers = [int(match.group(1)) for key_id in existing if (match := re.fullmatch(r"k(\d+)", key_id))]
    candidate = f"k{max(numbers, default=0) + 1}"
    while candidate in existing:  # pragma: no cover - only with hand-made ids like "k2" beside "k02"
        candidate += "x"
    return candidate


@keys_group.command("rotate")
@click.option("--key-id", help="Id of the new key (default: the next k<n>); letters, digits, _ and -.")
@JSON_OPTION
def keys_rotate(key_id: str | None, as_json: bool) -> None:
    """Generate a new encryption key and print how to deploy it. Existing keys are never printed.

    The vault encrypts with the first key of DRIVEGUARD_ENCRYPTION_KEYS and decrypts with whichever
    key a blob names, so the new key goes first and the old ones stay until `reencrypt-tokens` is clean.
    """
    import re

    from driveguard.config import generate_encryption_key, get_settings

    current = [key.key_id for key in get_settings().security.encryption_keys]
    new_id = key_id or next_key_id(current)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", new_id):
        raise OperatorError("--key-id: use 1-32 letters, digits, _ or -")
    if new_id in current:
        raise OperatorError(f"key id {new_id!r} is already in use")
    entry = generate_encryption_key(new_id)
    steps = [
        f"Put the new key first in DRIVEGUARD_ENCRYPTION_KEYS, keeping the current keys after it: "
        f"DRIVEGUARD_ENCRYPTION_KEYS={entry},<the current value>",
        "Restart the API and the Airflow components so every process knows the new key (it encrypts from then on).",
        "Run `driveguard reencrypt-tokens` (exit 0 and 0 failed: everything the vault sealed is under the new key).",
        f"Then remove the old key(s) ({', '.join(current)}) from DRIVEGUARD_ENCRYPTION_KEYS and restart again.",
    ]
    if as_json:
        _echo_json({"key_id": new_id, "key": entry, "current_key_ids": current, "steps": steps})
        return
    click.echo(entry)
    console = _stderr_console()
    console.print(
        f"\nA new key [bold]{new_id}[/] (above; store it as a secret). Current key ids: {', '.join(current)}."
    )
    for number, step in enumerate(steps, start=1):
        console.print(f"  {number}. {step}", soft_wrap=True)


# -- the demo and the pipelines -------------------------------------------------------------------


@cli.group("demo")
def demo_group() -> None:
    """The local demo (`make run` only; refused anywhere else)."""


@demo_group.command("seed")
@click.option("--weeks", type=click.IntRange(1, 8), default=6, show_default=True, help="Weeks of Reports history.")
@click.option("--api-url", help="The running API (default: API_PUBLIC_URL).")
@JSON_OPTION
def demo_seed(weeks: int, api_url: str | None, as_json: bool) -> None:
    """Sign the emulator's accounts in through the consent page, backfill weeks of history through
    Reports and run one collection, so the first page has charts, alerts and a forecast. Idempotent.

    Refused unless DRIVEGUARD_ENV=local and Google is the emulator on this machine.
    """
    from driveguard.config import get_settings
    from driveguard.db.engine import get_engine
    from driveguard.demo import DemoFailed, DemoRefused, seed_demo

    settings = get_settings()
    console = _stderr_console()
    try:
        if as_json or not console.is_terminal:
            report = seed_demo(settings, get_engine(settings), weeks=weeks, api_url=api_url)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            columns = (TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=console) as progress:
                tasks: dict[str, Any] = {}

                def show(phase: str, done: int, total: int) -> None:
                    if phase not in tasks:
                        tasks[phase] = progress.add_task(phase, total=total)
                    progress.update(tasks[phase], completed=done, total=total)

                report = seed_demo(settings, get_engine(settings), weeks=weeks, api_url=api_url, progress=show)
    except DemoRefused as exc:
        raise OperatorError(f"refused: {exc}", exit_code=2) from None
    except DemoFailed as exc:
        raise OperatorError(f"the demo seed failed: {exc}", exit_code=1) from None
    if as_json:
        _echo_json(report.as_dict())
        return
    from collections import Counter

    from driveguard.storage import operator

    now = Counter(line.level for line in operator.accounts(get_engine(settings)))
    levels = ", ".join(f"{now[level]} {level}" for level in ("critical", "warning", "normal"))
    click.echo(
        f"demo: {len(report.accounts)} accounts ({len(report.signed_in)} signed in now, "
        f"{len(report.already_signed_in)} already); history {report.backfill_from}..{report.backfill_to}: "
        f"{report.backfilled_days} days stored ({report.snapshots_inserted} new rows), "
        f"{len(report.days_not_ready)} not published yet; collected {report.collected} accounts "
        f"for {report.collected_interval}; levels: {levels}"
    )


@cli.command("run")
@click.argument("dag_id", required=False, default="storage_collect")
@click.option("--recollect", is_flag=True, default=None, help="storage_collect only: ask Google again for all.")
@JSON_OPTION
def run_dag(dag_id: str, recollect: bool | None, as_json: bool) -> None:
    """Trigger a run of a pipeline DAG now through Airflow's REST API (default: storage_collect)."""
    from driveguard.audit import RequestContext
    from driveguard.config import get_settings
    from driveguard.db.engine import get_engine
    from driveguard.storage.monitoring_service import ControlCommand, MonitoringService, TriggerOutcome

    settings = get_settings()
    service = MonitoringService.from_settings(settings, get_engine(settings))
    try:
        with _domain_errors():
            outcome = service.control("cli", RequestContext(), ControlCommand("trigger", dag_id, recollect=recollect))
    finally:
        service.close()
    assert isinstance(outcome, TriggerOutcome)
    payload = {
        "dag_id": outcome.dag_id,
        "dag_run_id": outcome.dag_run_id,
        "state": outcome.state,
        "data_interval_start": outcome.data_interval_start,
        "data_interval_end": outcome.data_interval_end,
    }
    if as_json:
        _echo_json(payload)
    else:
        click.echo(f"triggered {outcome.dag_id}: run {outcome.dag_run_id} ({outcome.state}) "
                   f"for {outcome.data_interval_start} .. {outcome.data_interval_end}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """The `driveguard` console script and `python -m driveguard.cli`: run one command, return its exit code."""
    try:
        cli.main(args=argv, prog_name="driveguard")
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
