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
}


def test_the_api_bench_runs_at_a_tiny_size_and_merges_its_figures(tmp_path: Path) -> None:
    latest = tmp_path / "latest.json"
    latest.write_text(json.dumps({"collect": {"ratio_to_floor": 1.06}}))
    tiny = [
        "--accounts",
        "1200",
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
        timeout=120,
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
    # The deep page is a real keyset page (1,200 accounts: the walk takes one 500-row page first).
    explained = tmp_path / "api-explain"
    assert {path.stem for path in explained.glob("*.txt")} == ROUTES - {"ping"}
    assert "Buffers" in (explained / "overview.txt").read_text()
    assert "cursor=" in (explained / "accounts_by_usage_deep.txt").read_text()
