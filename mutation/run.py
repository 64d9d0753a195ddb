"""`make mutate`: cosmic-ray over the rule-bearing modules, each against the smallest test selection
that covers it, bounded in time, with a report of every surviving mutant in var/mutation/.

Usage: python mutation/run.py [--modules vault,sessions] [--budget-minutes 45] [--timeout 60] [--fresh]

Sessions (var/mutation/<module>.sqlite) are resumable: a run that hits its time bound leaves the
untested mutants pending, the report counts them as "not run", and the next run carries on with
them. `--fresh` starts every selected module over. See docs/mutation.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "mutation"
PYTHON = sys.executable
BIN = Path(PYTHON).parent
SOCKET = VAR / "forkserver.sock"


@dataclass(frozen=True)
class Target:
    name: str
    path: str
    tests: tuple[str, ...]


# In the order the run takes them (the strictest rules first). Each selection is the fastest set of
# tests that exercises the module's rules; `-x` stops at the first failure, so a killed mutant is cheap.
TARGETS = (
    Target(
        "vault",
        "driveguard/identity/vault.py",
        (
            "tests/unit/identity/test_vault.py",
            "tests/unit/identity/test_vault_rules.py",
            "tests/integration/identity/test_reencrypt.py::test_reencrypt_moves_everything_to_the_newest_key_in_batches",
            "tests/integration/identity/test_reencrypt.py::test_an_undecryptable_row_is_counted_once_and_left_alone",
        ),
    ),
    Target(
        "sessions",
        "driveguard/identity/sessions.py",
        ("tests/unit/identity/test_session_policy.py", "tests/unit/identity/test_session_rules.py"),
    ),
    Target(
        "outbox",
        "driveguard/storage/notifications.py",
        (
            "tests/unit/storage/test_outbox_rules.py",
            "tests/unit/storage/test_pipeline_units.py",
            "tests/integration/storage/test_rule_pins_outbox.py",
            "tests/integration/storage/test_outbox_fencing.py",
            "tests/integration/storage/test_grant_notice_rules.py",
        ),
    ),
    Target(
        "alerts",
        "driveguard/storage/alerts.py",
        (
            "tests/unit/storage/test_alert_rules.py",
            "tests/unit/storage/test_pipeline_units.py",
            "tests/integration/storage/test_rule_pins_outbox.py",
        ),
    ),
    Target(
        "tokens",
        "driveguard/identity/tokens.py",
        (
            "tests/integration/identity/test_token_service.py",
            "tests/integration/identity/test_rule_pins_identity.py",
            "tests/integration/identity/test_token_reject.py",
        ),
    ),
    Target("refresh", "driveguard/identity/refresh.py", ("tests/integration/identity/test_refresh_pass.py",)),
    Target(
        "login",
        "driveguard/identity/login.py",
        ("tests/unit/google/test_google_oauth.py", "tests/integration/identity/test_signin_failures.py"),
    ),
    Target(
        "collection",
        "driveguard/storage/collection.py",
        (
            "tests/unit/storage/test_collection_rules.py",
            "tests/integration/identity/test_collect_pass.py",
            "tests/unit/storage/test_gate_units.py",
            "tests/unit/storage/test_pipeline_units.py",
        ),
    ),
    Target(
        "retention",
        "driveguard/storage/retention.py",
        (
            "tests/unit/storage/test_retention_rules.py",
            "tests/integration/identity/test_erasure.py",
            "tests/integration/storage/test_retention_partitions.py::test_whole_raw_months_are_dropped_as_partitions_and_the_boundary_month_row_by_row",
            "tests/integration/storage/test_retention_partitions.py::test_a_crash_between_the_daily_upsert_and_the_drop_loses_nothing",
            "tests/integration/storage/test_retention_partitions.py::test_partitions_are_created_ahead_for_both_series_across_a_year_end",
            "tests/integration/identity/test_rule_pins_identity.py",
        ),
    ),
)

# Operators left out, and why (docs/mutation.md): replacing an arithmetic operator by a bitwise one,
# a power or a modulo, or a comparison by an identity test, makes mutants any test kills at once
# (TypeError) and that multiply the run time; `X | None` in annotations is not code; variable
# replacement/insertion mutates every name and mostly yields type errors.
EXCLUDED_OPERATORS = (
    r"core/ReplaceBinaryOperator_\w+_(Pow|RShift|LShift|BitOr|BitAnd|BitXor|Mod|FloorDiv)$",
    r"core/ReplaceBinaryOperator_BitOr_",
    r"core/ReplaceComparisonOperator_(Eq|NotEq|Lt|LtE|Gt|GtE)_(Is|IsNot)$",
    r"core/ReplaceComparisonOperator_(Is|IsNot)_(Eq|NotEq|Lt|LtE|Gt|GtE)$",
    r"core/ReplaceUnaryOperator_\w*Invert",
    r"core/ReplaceUnaryOperator_UAdd_",
    r"core/VariableReplacer",
    r"core/VariableInserter",
)
PYTEST_ARGS = ("-x", "-q", "-p", "no:cacheprovider", "--no-header", "-W", "ignore")


def config_command(target: Target) -> list[str]:
    return [PYTHON, str(ROOT / "mutation" / "forkserver.py"), "run", str(SOCKET), *PYTEST_ARGS, *target.tests]


def config_for(target: Target, timeout: float) -> Path:
    command = " ".join(config_command(target))
    excluded = ",\n".join(f"  {json.dumps(pattern)}" for pattern in EXCLUDED_OPERATORS)
    path = VAR / f"{target.name}.toml"
    path.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{target.path}"\n'
        f"timeout = {timeout + 15}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(command)}\n\n"
        '[cosmic-ray.distributor]\nname = "local"\n\n'
        f"[cosmic-ray.filters.operators-filter]\nexclude-operators = [\n{excluded}\n]\n"
    )
    return path


def results(session: Path) -> list[tuple[dict, dict | None]]:
    dump = subprocess.run([BIN / "cosmic-ray", "dump", session], check=True, capture_output=True, text=True, cwd=ROOT)
    return [tuple(json.loads(line)) for line in dump.stdout.splitlines() if line.strip()]


def mutate(target: Target, timeout: float, seconds_left: float, fresh: bool, retest: bool) -> None:
    config = config_for(target, timeout)
    session = VAR / f"{target.name}.sqlite"
    if fresh:
        session.unlink(missing_ok=True)
    if retest and session.exists():  # tests were added: survivors go back to pending, kills stay
        with sqlite3.connect(session) as db:
            db.execute("DELETE FROM work_results WHERE test_outcome = 'SURVIVED'")
    if not session.exists():
        subprocess.run([BIN / "cosmic-ray", "init", config, session], check=True, cwd=ROOT)
        subprocess.run([BIN / "cr-filter-operators", session, config], check=True, cwd=ROOT)
    missing = [test for test in target.tests if not (ROOT / test.split("::")[0]).exists()]
    if missing:  # skipped, not failed: the other modules still run
        print(f"mutate: {target.name} skipped: no such test file {missing}", flush=True)
        return
    baseline = subprocess.run(config_command(target), cwd=ROOT, capture_output=True, text=True)
    if baseline.returncode != 0:  # every mutant would count as killed
        print(baseline.stdout[-3000:])
        print(f"mutate: {target.name} skipped: its tests fail without any mutant", flush=True)
        return
    source = ROOT / target.path
    original = source.read_bytes()
    run = subprocess.Popen([BIN / "cosmic-ray", "exec", config, session], cwd=ROOT, start_new_session=True)
    try:
        run.wait(timeout=max(seconds_left, 1))
    except subprocess.TimeoutExpired:
        print(f"mutate: time bound reached during {target.name}; the rest stays pending", flush=True)
        os.killpg(run.pid, signal.SIGINT)
        try:
            run.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    finally:
        if source.read_bytes() != original:  # never leave a mutant on disk
            source.write_bytes(original)


def report(targets: tuple[Target, ...]) -> str:
    rows, survivors = [], []
    totals = dict(mutants=0, killed=0, survived=0, equivalent=0, pending=0, incompetent=0)
    for target in targets:
        session = VAR / f"{target.name}.sqlite"
        if not session.exists():
            continue
        counts = dict(mutants=0, killed=0, survived=0, equivalent=0, pending=0, incompetent=0)
        for item, result in results(session):
            if result and result.get("worker_outcome") == "skipped":
                continue
            counts["mutants"] += 1
            outcome = (result or {}).get("test_outcome")
            if result is None:
                counts["pending"] += 1
            elif outcome == "killed":
                counts["killed"] += 1
            elif outcome == "survived":
                mutation = item["mutations"][0]
                diff = result.get("diff") or ""
                kind = "equivalent" if signature_marker_only(diff) else "survived"
                counts[kind] += 1
                survivors.append((target.name, mutation, diff, kind))
            else:
                counts["incompetent"] += 1
        for key in totals:
            totals[key] += counts[key]
        rows.append((target.name, counts))
    header = "| module | mutants | killed | survived | equivalent | not run | incompetent | score |"
    lines = [header, "|---" * 8 + "|"]
    for name, c in [*rows, ("total", totals)]:
        cells = (
            name,
            c["mutants"],
            c["killed"],
            c["survived"],
            c["equivalent"],
            c["pending"],
            c["incompetent"],
            score(c),
        )
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    lines.append("\n## Survivors\n")
    for name, mutation, diff, kind in survivors:
        line = mutation["start_pos"][0]
        where = f"`{mutation['module_path']}:{line}` {mutation['operator_name']}"
        note = " — equivalent: keyword-only `*` became positional-only `/`" if kind == "equivalent" else ""
        lines.append(f"- {name}: {where} (in {mutation.get('definition_name')}){note}")
        changed = [d for d in diff.splitlines() if d[:1] in "+-" and not d.startswith(("+++", "---"))]
        lines.extend(f"    {d}" for d in changed)
    summary = (
        f"mutation: {totals['mutants']} mutants, {totals['killed']} killed, {totals['survived']} survived, "
        f"{totals['equivalent']} equivalent, {totals['pending']} not run, score {score(totals)}"
    )
    (VAR / "report.md").write_text("# Mutation report\n\n" + "\n".join(lines) + f"\n\n{summary}\n")
    return summary


def signature_marker_only(diff: str) -> bool:
    """cosmic-ray reads the `*` of a keyword-only signature as a multiplication and makes it `/`
    (positional-only): every caller passes those arguments by keyword, so nothing can observe it."""
    removed = [d[1:] for d in diff.splitlines() if d.startswith("-") and not d.startswith("---")]
    added = [d[1:] for d in diff.splitlines() if d.startswith("+") and not d.startswith("+++")]
    return (
        len(removed) == len(added) == 1
        and removed[0].replace("*", "/") == added[0]
        and (removed[0].strip() == "*," or removed[0].lstrip().startswith("def "))
    )


def score(counts: dict[str, int]) -> str:
    tested = counts["killed"] + counts["survived"]
    return f"{100 * counts['killed'] / tested:.1f} %" if tested else "-"


def start_forkserver(timeout: float, env: dict[str, str]) -> subprocess.Popen:
    server = subprocess.Popen(
        [PYTHON, ROOT / "mutation" / "forkserver.py", "serve", SOCKET, str(timeout)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    if server.stdout is None or server.stdout.readline().strip() != "ready":
        server.kill()
        raise SystemExit("mutate: the fork server did not start")
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modules", default=",".join(t.name for t in TARGETS))
    parser.add_argument("--budget-minutes", type=float, default=45.0, help="bound on the whole run")
    parser.add_argument("--timeout", type=float, default=60.0, help="bound on one mutant's test run (s)")
    parser.add_argument("--fresh", action="store_true", help="start the selected modules over")
    parser.add_argument("--retest-survivors", action="store_true", help="after adding tests: run the survivors again")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    chosen = tuple(t for t in TARGETS if t.name in args.modules.split(","))
    VAR.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        run_modules(chosen, args)
    print(report(chosen))
    print(f"mutate: report in {VAR / 'report.md'}")


def run_modules(chosen: tuple[Target, ...], args: argparse.Namespace) -> None:
    deadline = time.monotonic() + args.budget_minutes * 60
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    from support.database import PostgresForTests

    from driveguard.db import migrate
    from driveguard.db.engine import make_engine

    server = PostgresForTests()
    template = server.create_database(prefix="dg_mutate_template")
    engine = make_engine(server.url_for(template), pool_size=1)
    migrate.upgrade(engine)
    engine.dispose()
    env = dict(os.environ, DRIVEGUARD_TEST_TEMPLATE_DATABASE=template)
    forkserver = start_forkserver(args.timeout, env)
    try:
        for target in chosen:
            left = deadline - time.monotonic()
            if left <= 0:
                print(f"mutate: time bound reached; {target.name} not started", flush=True)
                continue
            print(f"mutate: {target.name} ({target.path}), {left / 60:.0f} min left", flush=True)
            mutate(target, args.timeout, left, args.fresh, args.retest_survivors)
    finally:
        subprocess.run([PYTHON, ROOT / "mutation" / "forkserver.py", "stop", SOCKET], check=False)
        forkserver.wait(timeout=30)
        server.drop_database(template)


if __name__ == "__main__":
    main()
