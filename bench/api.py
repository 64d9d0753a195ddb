"""Benchmark the API's read routes against a large installation, beside a bare endpoint as the ceiling.

Loads N accounts and their history into a fresh embedded PostgreSQL with COPY (daily rows for
`--days`, hourly raw rows for the last `--raw-hours`), refreshes the read model through the
product's own code, serves the API with uvicorn workers in a separate process, and drives each
route from a separate load process (an async httpx client, many connections) with a warm-up and
a fixed duration. Prints p50/p99 and requests/s per route and each throughput as a share of the
bare endpoint's (`/api/health/live`); writes `EXPLAIN (ANALYZE, BUFFERS)` of every query each
route runs to bench/results/api-explain/, and its figures into bench/results/latest.json under
`api` (read-modify-write: other benchmarks' keys stay).

    .venv/bin/python bench/api.py                 # 10,000 accounts, a year of daily history
    .venv/bin/python bench/api.py --full          # 100,000 accounts, >= 10 million snapshot rows
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
NOW = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
GIB = 1024**3
ADMIN_USER, ADMIN_PASSWORD = "bench", "bench password, not a secret"
CEILING = "ping"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_env(database_url: str) -> dict[str, str]:
    from driveguard.config import generate_encryption_key
    from driveguard.identity.passwords import hash_password

    return {
        "DRIVEGUARD_ENV": "test",
        "DRIVEGUARD_ENV_FILE": os.devnull,
        "DATABASE_URL": database_url,
        "GOOGLE_CLIENT_ID": "bench.apps.googleusercontent.com",
        "GOOGLE_CLIENT_SECRET": "bench-secret",
        "GOOGLE_REDIRECT_URI": "http://127.0.0.1:8000/auth/callback",
        "DRIVEGUARD_ENCRYPTION_KEYS": generate_encryption_key("k1"),
        "DRIVEGUARD_SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
        "SESSION_COOKIE_SECURE": "false",
        "DRIVEGUARD_ADMIN_USERS": f"{ADMIN_USER}:{hash_password(ADMIN_PASSWORD, log2_n=10)}",
    }


# -- the data -------------------------------------------------------------------------------------


def usage(i: int, limit: int | None, hours_ago: float) -> int:
    """A steady, account-specific growth: 10-90 % full now, about 1 % less a week earlier."""
    base = (limit or 200 * GIB) * (10 + (i * 7919) % 80) / 100
    return max(0, int(base - hours_ago * (limit or 200 * GIB) / 100 / (24 * 7)))


def account_id(i: int) -> uuid.UUID:
    """The i-th account's id: fixed, so a later stage adds accounts beside the earlier ones."""
    return uuid.UUID(int=(i + 1) * 0x9E3779B97F4A7C15 % (1 << 122) | (4 << 76))


def history_days(i: int, days: int, recent_days: int | None) -> int:
    """Daily rows of account i: the whole `days` for every tenth account (and all of them without
    `recent_days`), the others signed up `recent_days` ago."""
    return days if recent_days is None or i % 10 == 0 else min(days, recent_days)


def load(
    database_url: str, accounts: range, days: int, raw_hours: int, recent_days: int | None = None
) -> dict[str, Any]:
    """Accounts `accounts` (indexes) and their history by COPY; partitions by the product's
    function; the read model by the product's refresh. Returns how long each part took."""
    import psycopg
    from sqlalchemy import text

    from driveguard.db.engine import make_engine
    from driveguard.storage.interval import Interval
    from driveguard.storage.read_model import refresh_latest
    from driveguard.storage.sql import load_sql
    from launcher import embedded

    began = time.perf_counter()
    ids = {i: account_id(i) for i in accounts}
    limits = {i: None if i % 20 == 0 else 15 * GIB * (1 + i % 7) for i in accounts}
    engine = make_engine(database_url, pool_size=1)
    first_day = (NOW - dt.timedelta(hours=raw_hours)).replace(hour=0) - dt.timedelta(days=days)
    with engine.begin() as conn:  # daily years for the whole history, raw months for the raw window only
        month = first_day.replace(day=1)
        while month <= NOW:
            conn.execute(load_sql("ensure_daily_partition"), {"at": month})
            month = (month + dt.timedelta(days=32)).replace(day=1)
        for hours_ago in [*range(raw_hours, 0, -24), 0]:
            conn.execute(load_sql("ensure_partition"), {"at": NOW - dt.timedelta(hours=hours_ago)})
    with psycopg.connect(embedded.libpq_url(database_url)) as pg, pg.cursor() as cur:
        with cur.copy("COPY google_account (id, google_sub, email, status, created_at, updated_at) FROM STDIN") as copy:
            for i, account in ids.items():
                status = "reauth_required" if i % 50 == 0 else "active"
                copy.write_row((account, f"sub-{i}", f"user{i:06d}@org{i % 97}.example", status, first_day, NOW))
        accounts_done = time.perf_counter()
        columns = "account_id, interval_start, interval_end, collected_at, usage_bytes, usage_in_drive_bytes, usage_in_trash_bytes, limit_bytes, source, granularity"  # noqa: E501
        rows = 0
        with cur.copy(f"COPY storage_snapshot ({columns}) FROM STDIN") as copy:
            # COPY's text format written a day or an hour at a time: formatting each value in Python
            # (write_row) would make the loader, not PostgreSQL, the slow part.
            keys = {i: (str(account), "\\N" if limits[i] is None else str(limits[i])) for i, account in ids.items()}
            for d in range(days):
                start = first_day + dt.timedelta(days=d)
                begin, end = start.isoformat(), (start + dt.timedelta(days=1)).isoformat()
                ago = (NOW - start).total_seconds() / 3600
                lines = []
                for i, (account, limit) in keys.items():
                    if d < days - history_days(i, days, recent_days):
                        continue
                    used = usage(i, limits[i], ago)
                    lines.append(f"{account}\t{begin}\t{end}\t{end}\t{used}\t{used}\t0\t{limit}\treports\tdaily\n")
                copy.write("".join(lines))
                rows += len(lines)
            for h in range(raw_hours, 0, -1):
                start = NOW - dt.timedelta(hours=h)
                begin, end = start.isoformat(), (start + dt.timedelta(hours=1)).isoformat()
                lines = []
                for i, (account, limit) in keys.items():
                    used = usage(i, limits[i], h)
                    lines.append(f"{account}\t{begin}\t{end}\t{end}\t{used}\t{used}\t0\t{limit}\tdrive_about\traw\n")
                copy.write("".join(lines))
                rows += len(lines)
        pg.commit()
        cur.execute("ANALYZE")
    copied = time.perf_counter()
    last = Interval(NOW - dt.timedelta(hours=1), NOW)
    refresh_latest(engine, last, now=NOW)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE storage_latest"))
    engine.dispose()
    return {
        "snapshot_rows": rows,
        "load_accounts_s": round(accounts_done - began, 1),
        "load_snapshots_s": round(copied - accounts_done, 1),
        "load_read_model_s": round(time.perf_counter() - copied, 1),
    }


def credentials(env: dict[str, str], url: str, account_id: uuid.UUID) -> tuple[str, str]:
    """A person's session token (as sign-in issues it) and an admin token from the running API."""
    from driveguard.audit import RequestContext
    from driveguard.config import load_settings
    from driveguard.db.engine import make_engine, transaction
    from driveguard.identity.sessions import SessionService

    settings = load_settings(env, env_file=os.devnull)
    engine = make_engine(env["DATABASE_URL"], pool_size=1)
    with transaction(engine) as db:
        session = SessionService(settings).issue(db, account_id, context=RequestContext.of(None, None)).token
    engine.dispose()
    answer = httpx.post(
        f"{url}/api/auth/token",
        json={"grant_type": "password", "username": ADMIN_USER, "password": ADMIN_PASSWORD},
        timeout=60,
    )
    answer.raise_for_status()
    return session, str(answer.json()["access_token"])


# -- the server and the load ------------------------------------------------------------------------


def serve(env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    """uvicorn as `python -m api` runs it (app factory, proxy headers), with `workers` processes."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--proxy-headers",
            "--forwarded-allow-ips",
            "127.0.0.1",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
    )
    deadline = time.monotonic() + 180  # a busy shared machine: workers may take a while to import
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health/live", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise RuntimeError("the API did not start")
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError("the API did not answer within 180 s")


async def _drive(url: str, headers: dict[str, str], connections: int, warmup: float, duration: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
        measure_from = time.perf_counter() + warmup
        stop = measure_from + duration

        async def worker() -> None:
            nonlocal errors
            while (started := time.perf_counter()) < stop:
                response = await client.get(url)
                ended = time.perf_counter()
                if started >= measure_from:
                    if response.status_code == 200:
                        latencies.append(ended - started)
                    else:
                        errors += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
    return {"latencies": latencies, "errors": errors}


def drive(url: str, headers: dict[str, str], connections: int, warmup: float, duration: float) -> dict[str, Any]:
    """One load process's run (spawned: its own interpreter, its own event loop)."""
    return asyncio.run(_drive(url, headers, connections, warmup, duration))


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if number is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return round(float(number[1]) * _UNITS[number[2]], 2)


def measure_wrk(url: str, headers: dict[str, str], args: argparse.Namespace) -> dict[str, float | int]:
    """wrk (C, epoll) as the load process: a warm-up run, then the measured one with its latency
    distribution. Whole seconds: wrk's durations are integers."""
    threads = max(1, min(args.connections, args.load_processes))
    base = ["wrk", f"-t{threads}", f"-c{args.connections}", "--timeout", "30s"]
    for name, value in headers.items():
        base += ["-H", f"{name}: {value}"]
    if args.warmup >= 0.5:
        subprocess.run([*base, f"-d{round(args.warmup)}s", url], check=True, capture_output=True)  # noqa: S603
    seconds = max(1, round(args.duration))
    output = subprocess.run(  # noqa: S603 - wrk with our arguments
        [*base, f"-d{seconds}s", "--latency", url], check=True, capture_output=True, text=True
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    total = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = int(failed[1]) if failed else 0
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    if total is None or rate is None or set(percentiles) != {"50", "99"}:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    return {
        "requests": int(total[1]),
        "errors": errors,
        "p50_ms": _ms(percentiles["50"]),
        "p99_ms": _ms(percentiles["99"]),
        "rps": round(float(rate[1]), 1),
    }


def measure(pool: Any, url: str, headers: dict[str, str], args: argparse.Namespace) -> dict[str, float | int]:
    if args.client == "wrk":
        return measure_wrk(url, headers, args)
    per_process = max(1, args.connections // args.load_processes)
    runs = [
        pool.apply_async(drive, (url, headers, per_process, args.warmup, args.duration))
        for _ in range(args.load_processes)
    ]
    latencies: list[float] = []
    errors = 0
    for run in runs:
        result = run.get(timeout=args.warmup + args.duration + 120)
        latencies += result["latencies"]
        errors += result["errors"]
    latencies.sort()
    if not latencies:
        return {"requests": 0, "errors": errors, "p50_ms": 0.0, "p99_ms": 0.0, "rps": 0.0}
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "rps": round(len(latencies) / args.duration, 1),
    }


def routes(accounts: int, deep_cursor: str | None, admin: str, session: str) -> dict[str, Any]:
    """name -> (path with query, headers)."""
    ids = [account_id(i) for i in (0, accounts // 2)]
    as_admin = {"Authorization": f"Bearer {admin}"}
    as_person = {"Cookie": f"dg_session={session}"}
    admin_pages = {"Cookie": f"dg_admin={admin}"}  # the admin pages' cookie (not secure in the bench: no __Host-)
    year_ago = (NOW - dt.timedelta(days=365)).date().isoformat()
    deep = f"&cursor={deep_cursor}" if deep_cursor else ""
    return {
        CEILING: ("/api/health/live", {}),
        "overview": ("/api/storage/overview", as_admin),
        "accounts_by_usage": ("/api/storage/accounts?sort=usage_percent&direction=desc&limit=50", as_admin),
        "accounts_by_usage_deep": (f"/api/storage/accounts?sort=usage_percent&direction=desc&limit=50{deep}", as_admin),
        "history_year_daily": (
            f"/api/storage/accounts/{ids[1]}/history?from={year_ago}&resolution=daily",
            as_admin,
        ),
        "me": ("/api/storage/me", as_person),
        "oauth_status": ("/api/oauth/status", as_person),
        "detailed_status_email": (f"/api/oauth/detailed-status?email=user{accounts // 3:06d}", as_admin),
        "page_admin": ("/admin", admin_pages),
        "page_admin_accounts": ("/admin/accounts", admin_pages),
        "page_admin_account": (f"/admin/accounts/{ids[1]}", admin_pages),
    }


def deep_cursor(base: str, admin: str, accounts: int) -> str | None:
    """The cursor of the page half-way down the list by usage (walked with the largest pages)."""
    cursor: str | None = None
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin}"}, timeout=60) as client:
        for _ in range(max(0, accounts // 2 // 500)):
            params: dict[str, Any] = {"sort": "usage_percent", "direction": "desc", "limit": 500}
            if cursor:
                params["cursor"] = cursor
            body = client.get("/api/storage/accounts", params=params).raise_for_status().json()
            cursor = body["next_cursor"]
            if cursor is None:
                break
    return cursor


# -- EXPLAIN ----------------------------------------------------------------------------------------


def explain(env: dict[str, str], table: dict[str, Any], out: Path) -> dict[str, list[str]]:
    """Every SELECT each route runs, captured from an in-process app, explained on the same data.
    Returns the plan lines that scan sequentially (the issue: none over history or all accounts)."""
    from litestar.testing import TestClient
    from sqlalchemy import event

    from api.app import create_app
    from driveguard.config import load_settings
    from driveguard.db.engine import make_engine

    settings = load_settings(env, env_file=os.devnull)
    engine = make_engine(env["DATABASE_URL"], pool_size=2, pre_ping=False)
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if re.sub(r"^(\s*--[^\n]*\n)*", "", statement).lstrip().upper().startswith(("SELECT", "WITH")):
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    seq_scans: dict[str, list[str]] = {}
    failures: dict[str, str] = {}
    out.mkdir(parents=True, exist_ok=True)
    with TestClient(create_app(settings, engine)) as client:
        for name, (path, headers) in table.items():
            if name == CEILING:
                continue
            captured.clear()
            answer = client.get(path, headers=headers)
            statements = list(captured)
            if answer.status_code != 200:  # say so beside the plans rather than lose the whole run
                failures[name] = f"{answer.status_code}: {answer.text[:300]}"
            event.remove(engine, "before_cursor_execute", capture)
            plans: list[str] = []
            with engine.connect() as conn:
                for statement, parameters in statements:
                    rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
                    plan = [row[0] for row in rows]
                    plans.append(statement.strip() + "\n\n" + "\n".join(plan))
                    seq_scans[name] = seq_scans.get(name, []) + [line.strip() for line in plan if "Seq Scan" in line]
                conn.rollback()
            event.listen(engine, "before_cursor_execute", capture)
            failed = f"ANSWERED {failures[name]}\n\n" if name in failures else ""
            (out / f"{name}.txt").write_text(f"GET {path}\n\n{failed}" + "\n\n----\n\n".join(plans) + "\n")
    engine.dispose()
    return {"seq_scans": seq_scans, "failed": failures}


# -- the run ----------------------------------------------------------------------------------------


SEQ_SCAN = re.compile(r"Seq Scan on (storage_snapshot\w*|google_account|storage_latest)\b")
"""A plan line that reads the history or every account: what no read route may do."""
EMPTY_RELATION = re.compile(r"\(cost=0\.00\.\.0\.00 ")
"""The planner's cost of scanning a relation without pages (an empty default partition): it reads nothing."""


def seq_scan_check(seq_scans: dict[str, list[str]]) -> dict[str, Any]:
    """Which routes' plans scan the history or all accounts sequentially (scans of empty relations aside)."""
    offenders = {
        name: [line for line in lines if SEQ_SCAN.search(line) and not EMPTY_RELATION.search(line)]
        for name, lines in seq_scans.items()
    }
    offenders = {name: lines for name, lines in offenders.items() if lines}
    return {"ok": not offenders, "routes_explained": len(seq_scans), "offenders": offenders}


SCAN_LINE = re.compile(
    r"(Seq Scan|Index Scan|Index Only Scan|Bitmap Index Scan|Bitmap Heap Scan)( Backward)? (on|using) "
)


def explain_key_lines(folder: Path) -> str:
    """Per route and statement: how each relation is read (rows, loops) and the execution time."""
    out: list[str] = []
    for path in sorted(folder.glob("*.txt")):
        text = path.read_text()
        out.append(f"== {path.stem}: {text.splitlines()[0]}")
        for n, block in enumerate(text.split("\n----\n"), 1):
            lines = block.splitlines()
            scans = []
            for line in lines:
                if SCAN_LINE.search(line):
                    actual = re.search(r"\(actual [^)]*\)", line)
                    scans.append(
                        line.strip().removeprefix("->  ").split("  (cost")[0] + (f" {actual[0]}" if actual else "")
                    )
            timing = next((line for line in lines if line.startswith("Execution Time")), "")
            out.append(f"  [{n}] {timing}: " + " | ".join(scans))
    return "\n".join(out) + "\n"


def smoke(base: str, table: dict[str, Any]) -> dict[str, str]:
    """One request per route before measuring: anything but a 200 (a redirect to sign-in, a
    problem) would be measured as if it were the page, so it is reported instead."""
    failed: dict[str, str] = {}
    for name, (path, headers) in table.items():
        answer = httpx.get(base + path, headers=headers, timeout=120, follow_redirects=False)
        if answer.status_code != 200:
            failed[name] = f"{answer.status_code}: {answer.text[:200]}"
    return failed


def saturation(pool: Any, url: str, args: argparse.Namespace, ceiling: dict[str, Any]) -> dict[str, Any]:
    """The bare endpoint again with twice the load (connections and threads or processes): if the
    throughput does not rise, the server is the bottleneck, not the load generator."""
    doubled = argparse.Namespace(**{**vars(args), "connections": args.connections * 2})
    doubled.load_processes = args.load_processes * 2
    figure = measure(pool, url, {}, doubled)
    gain = round(figure["rps"] / (ceiling["rps"] or 1.0), 3)
    return {**figure, "connections": doubled.connections, "rps_gain": gain, "saturated": gain <= 1.1}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load, serve, measure; with `stages` (the --full run: 10,000 first), the overview and the
    ceiling are measured at each smaller size before the rest is loaded into the same database."""
    from launcher import embedded

    workdir = Path(tempfile.mkdtemp(prefix="dg-bench-api-"))
    data_dir = workdir / "pg"
    url = embedded.start(data_dir)
    server = None
    loaded: dict[str, Any] = {"snapshot_rows": 0}
    stages: dict[str, Any] = {}
    try:
        from driveguard.db import migrate
        from driveguard.db.engine import make_engine

        engine = make_engine(url, pool_size=1)
        migrate.upgrade(engine)
        engine.dispose()
        env = settings_env(url)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        context = multiprocessing.get_context("spawn")
        done = 0
        with context.Pool(args.load_processes * 2) as pool:
            for size in [*args.stages, args.accounts]:
                part = load(url, range(done, size), args.days, args.raw_hours, args.recent_days)
                done = size
                for key, value in part.items():
                    loaded[key] = round(loaded.get(key, 0) + value, 1)
                if server is None:
                    server = serve(env, port, args.workers)
                session, admin = credentials(env, base, account_id(0))
                if size != args.accounts:  # a smaller stage: the overview's cost at this size
                    partial = routes(size, None, admin, session)
                    stages[str(size)] = {
                        name: measure(pool, base + partial[name][0], partial[name][1], args)
                        for name in (CEILING, "overview")
                    }
                    print(f"at {size:,} accounts: {stages[str(size)]}", flush=True)
                    continue
                table = routes(size, deep_cursor(base, admin, size), admin, session)
                failed = smoke(base, table)
                figures: dict[str, dict[str, Any]] = {}
                for name, (path, headers) in table.items():
                    figures[name] = measure(pool, base + path, headers, args)
                    print(f"{name:24} {figures[name]}", flush=True)
                saturated = saturation(pool, base + table[CEILING][0], args, figures[CEILING])
                print(f"load generator at twice the load on the bare endpoint: {saturated}", flush=True)
        explained = explain(env, table, args.out.parent / "api-explain")
        (args.out.parent / "api-explain-keylines.txt").write_text(explain_key_lines(args.out.parent / "api-explain"))
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        embedded.stop(data_dir)
        shutil.rmtree(workdir, ignore_errors=True)
    ceiling = figures[CEILING]["rps"] or 1.0
    for figure in figures.values():
        figure["ratio_to_ceiling"] = round(figure["rps"] / ceiling, 4)
    for measured in stages.values():
        for figure in measured.values():
            figure["ratio_to_ceiling"] = round(figure["rps"] / (measured[CEILING]["rps"] or 1.0), 4)
    flatness = {
        size: round(figures["overview"]["p99_ms"] / (measured["overview"]["p99_ms"] or 1.0), 3)
        for size, measured in stages.items()
    }
    flatness_p50 = {
        size: round(figures["overview"]["p50_ms"] / (measured["overview"]["p50_ms"] or 1.0), 3)
        for size, measured in stages.items()
    }
    return {
        "accounts": args.accounts,
        "workers": args.workers,
        "connections": args.connections,
        "load_processes": args.load_processes,
        "client": args.client,
        "duration_s": args.duration,
        **loaded,
        "routes": figures,
        "stages": stages,
        "overview_p99_ratio_to_stage": flatness,
        "overview_p50_ratio_to_stage": flatness_p50,
        "load_generator_saturation": saturated,
        "smoke_failed": failed,
        "seq_scans": explained["seq_scans"],
        "seq_scan_check": seq_scan_check(explained["seq_scans"]),
        "explain_failed": explained["failed"],
    }


def record(result: dict[str, Any], out: Path) -> None:
    """Add the figures under `api` in latest.json, leaving every other key as it is."""
    current = json.loads(out.read_text()) if out.exists() else {}
    flat: dict[str, Any] = {"measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    for name, figure in result["routes"].items():
        flat[f"{name}_p50_ms"] = figure["p50_ms"]
        flat[f"{name}_p99_ms"] = figure["p99_ms"]
        flat[f"{name}_rps"] = figure["rps"]
        flat[f"{name}_ratio_to_ceiling"] = figure["ratio_to_ceiling"]
    for size, ratio in result["overview_p99_ratio_to_stage"].items():
        flat[f"overview_p99_ratio_to_{size}"] = ratio
    flat["seq_scan_check_ok"] = result["seq_scan_check"]["ok"]
    flat["load_generator_saturated"] = result["load_generator_saturation"]["saturated"]
    current["api"] = {**flat, "run": result}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(current, indent=2) + "\n")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument(
        "--full",
        action="store_true",
        help="100,000 accounts (a year of daily history for every tenth, 45 days for the others, 48 hours raw: "
        ">= 10 million snapshot rows), the overview measured at 10,000 first",
    )
    p.add_argument("--accounts", type=int, default=10_000)
    p.add_argument(
        "--stages",
        type=int,
        nargs="*",
        default=[],
        help="smaller sizes to measure the overview at first, loading the rest afterwards (e.g. 10000)",
    )
    p.add_argument("--days", type=int, default=365, help="daily history before the raw window")
    p.add_argument(
        "--recent-days", type=int, default=None, help="daily history of 9 accounts in 10 (default: --days for all)"
    )
    p.add_argument("--raw-hours", type=int, default=48, help="hourly raw rows (the retention window's tail)")
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--load-processes", type=int, default=2, help="async clients' processes, or wrk's threads")
    p.add_argument(
        "--client",
        choices=["auto", "wrk", "httpx"],
        default="auto",
        help="the load tool: wrk when on PATH (auto), else async httpx clients in their own processes",
    )
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.full:
        args.accounts, args.stages, args.recent_days = 100_000, [10_000], 45
    args.stages = sorted(size for size in args.stages if 0 < size < args.accounts)
    if args.client == "auto":
        args.client = "wrk" if shutil.which("wrk") else "httpx"
    result = run(args)
    record(result, args.out)
    print(json.dumps({k: v for k, v in result.items() if k != "routes"}, indent=2))
    print(f"{'route':24} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'ratio':>7}   (targets: p99 < 50 ms, ratio >= 0.5)")
    for name, figure in result["routes"].items():
        print(f"{name:24} {figure['p50_ms']:8} {figure['p99_ms']:8} {figure['rps']:8} {figure['ratio_to_ceiling']:7}")
    for size, ratio in result["overview_p99_ratio_to_stage"].items():
        p50 = result["overview_p50_ratio_to_stage"][size]
        print(
            f"overview p99 at {result['accounts']:,} / at {int(size):,} accounts: {ratio} (target <= 1.2); p50: {p50}"
        )
    sat = result["load_generator_saturation"]
    print(
        f"load generator: bare endpoint {result['routes'][CEILING]['rps']} req/s; at twice the load {sat['rps']} req/s"
        f" (x{sat['rps_gain']}): {'saturates the server' if sat['saturated'] else 'NOT saturating: the client limits'}"
    )
    check = result["seq_scan_check"]
    verdict = "ok" if check["ok"] else f"FOUND in {sorted(check['offenders'])}"
    print(
        f"seq scan check ({check['routes_explained']} routes' plans, storage_snapshot*/google_account/storage_latest):"
        f" {verdict}"
    )
    errors = sum(figure["errors"] for figure in result["routes"].values()) + len(result["explain_failed"])
    errors += len(result["smoke_failed"])
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
