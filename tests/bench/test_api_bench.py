"""`bench/api.py` keeps working: it loads, serves, drives and explains at a tiny size, and adds its
figures to latest.json without touching the other benchmarks' keys (real sizes: `make bench`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROUTES = {
    "ping",
    "overview",
    "accounts_by_usage",
    "accounts_by_usage_deep",
    "history_year_daily",
    "me",
    "oauth_status",
    "detailed_status_email",
    "page_admin",
    "page_admin_accounts",
    "page_admin_account",
}


def test_the_api_bench_runs_at_a_tiny_size_and_merges_its_figures(tmp_path: Path) -> None:
    latest = tmp_path / "latest.json"
    latest.write_text(json.dumps({"collect": {"ratio_to_floor": 1.06}}))
    tiny = [
        "--accounts",
        "1200",
        "--stages",
        "600",
        "--days",
        "5",
        "--raw-hours",
        "2",
        "--workers",
        "1",
        "--connections",
        "2",
        "--warmup",
        "0",
    ]
    run = subprocess.run(
        [sys.executable, "bench/api.py", *tiny, "--duration", "0.5", "--out", str(latest)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout + run.stderr

    figures = json.loads(latest.read_text())
    assert figures["collect"] == {"ratio_to_floor": 1.06}  # another benchmark's keys stay
    api = figures["api"]
    assert api["run"]["snapshot_rows"] == 1200 * (5 + 2)
    assert set(api["run"]["routes"]) == ROUTES
    for route in ROUTES:
        assert api[f"{route}_rps"] > 0 and api[f"{route}_p99_ms"] >= api[f"{route}_p50_ms"] > 0, route
        assert api["run"]["routes"][route]["errors"] == 0
    assert api["ping_ratio_to_ceiling"] == 1.0
    assert api["run"]["smoke_failed"] == {}  # every page answered 200 (not a redirect to sign-in)
    # The overview measured at the smaller stage too, and the flatness ratio printed and stored.
    stage = api["run"]["stages"]["600"]
    assert set(stage) == {"ping", "overview"} and stage["overview"]["errors"] == 0
    assert api["overview_p99_ratio_to_600"] == round(api["overview_p99_ms"] / stage["overview"]["p99_ms"], 3)
    assert "overview p99 at 1,200 / at 600 accounts:" in run.stdout
    assert api["run"]["load_generator_saturation"]["rps"] > 0 and "load generator: bare endpoint" in run.stdout
    check = api["run"]["seq_scan_check"]
    assert check["routes_explained"] == len(ROUTES) - 1 and "seq scan check (" in run.stdout
    assert api["seq_scan_check_ok"] == check["ok"]
    # The deep page is a real keyset page (1,200 accounts: the walk takes one 500-row page first).
    explained = tmp_path / "api-explain"
    assert {path.stem for path in explained.glob("*.txt")} == ROUTES - {"ping"}
    assert "Buffers" in (explained / "overview.txt").read_text()
    key_lines = (tmp_path / "api-explain-keylines.txt").read_text()
    assert "== overview: GET /api/storage/overview" in key_lines and "Execution Time" in key_lines
    assert "overview p99 at 1,200 / at 600 accounts:" in run.stdout and "; p50: " in run.stdout
    assert "cursor=" in (explained / "accounts_by_usage_deep.txt").read_text()


def test_the_seq_scan_check_flags_history_and_all_accounts_but_not_empty_or_small_tables() -> None:
    sys.path.insert(0, str(ROOT))
    from bench.api import seq_scan_check

    history = "->  Seq Scan on storage_snapshot_2026_11 s  (cost=0.00..81234.00 rows=4000000 width=49)"
    accounts = "Seq Scan on google_account  (cost=0.00..2790.00 rows=1 width=1364)"
    empty_default = "->  Seq Scan on storage_snapshot_default s_2  (cost=0.00..0.00 rows=1 width=49)"
    totals = "->  Seq Scan on storage_latest_totals t  (cost=0.00..1.02 rows=2 width=47)"
    check = seq_scan_check({"a": [history, totals], "b": [empty_default], "c": [accounts], "d": []})
    assert check == {"ok": False, "routes_explained": 4, "offenders": {"a": [history], "c": [accounts]}}
    assert seq_scan_check({"b": [empty_default, totals]})["ok"]
