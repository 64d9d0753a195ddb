"""The benchmarks keep working: each script runs end to end at a tiny size (the figures at real
sizes come from `make bench`, which is not part of the test suite)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_both_bench_scripts_run_at_a_tiny_size_and_report_their_figures(tmp_path: Path) -> None:
    collect_json, refresh_json = tmp_path / "collect.json", tmp_path / "refresh.json"
    collect = ["bench/collect.py", "--accounts", "50", "--naive-sample", "5", "--json", str(collect_json)]
    refresh = ["bench/refresh.py", "--accounts", "50", "--latency-ms", "20", "--json", str(refresh_json)]
    runs = [
        subprocess.Popen(
            [sys.executable, *collect],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [sys.executable, *refresh],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        ),
    ]
    outputs = [run.communicate(timeout=240)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n\n".join(outputs)

    collected = json.loads(collect_json.read_text())["default"]
    assert collected["snapshots"] == 50 and collected["lost"] == 0
    assert collected["drive_calls"] == 50, "one part per account, no retry needed"
    assert collected["max_rps"] <= collected["budget_rps"]
    assert collected["ratio_to_floor"] > 0 and collected["speedup_ceiling"] > 0
    refreshed = json.loads(refresh_json.read_text())
    assert refreshed["refreshes_at_emulator"] == 50 and refreshed["exactly_one_refresh_per_account"] is True
