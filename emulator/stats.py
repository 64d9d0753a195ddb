"""Counters the tests and demos read to see what the product actually did to "Google".

For example: how many refresh_token grants an account caused (exactly one after a burst of
concurrent requests?), how many calls were rate limited, how many parts batches carried.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from typing import Any


class Stats:
    """Plain counters; callers hold the state lock."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests: Counter[str] = Counter()
        self.statuses: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.grants: Counter[str] = Counter()
        self.grant_errors: Counter[str] = Counter()
        self.refresh_by_account: Counter[str] = Counter()
        self.refresh_errors_by_account: Counter[str] = Counter()
        self.code_by_account: Counter[str] = Counter()
        self.about_by_account: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()
        self.faults_injected: Counter[str] = Counter()
        self.revocations = 0
        self.refresh_reuse_detected = 0
        self.late_answers: Counter[str] = Counter()
        self.batch_requests = 0
        self.batch_parts = 0
        self.batch_max_parts = 0
        self.batch_overflow_parts = 0
        self.recent: defaultdict[str, deque[float]] = defaultdict(deque)
        self.max_1s_window: Counter[str] = Counter()

    def request(self, group: str, status: int) -> None:
        self.requests[group] += 1
        self.statuses[group][str(status) if status else "dropped"] += 1

    def arrival(self, group: str, now: float) -> None:
        """A request (or batch part) arrived: keep the most that arrived within any one second."""
        recent = self.recent[group]
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        recent.append(now)
        self.max_1s_window[group] = max(self.max_1s_window[group], len(recent))

    def fault(self, group: str, kind: str) -> None:
        self.faults_injected[group] += 1
        if kind in ("rate_limit", "user_rate_limit"):
            self.rate_limited[group] += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "statuses": {group: dict(counts) for group, counts in self.statuses.items()},
            "grants": dict(self.grants),
            "grant_errors": dict(self.grant_errors),
            "refresh_by_account": dict(self.refresh_by_account),
            "refresh_errors_by_account": dict(self.refresh_errors_by_account),
            "code_by_account": dict(self.code_by_account),
            "about_by_account": dict(self.about_by_account),
            "rate_limited": dict(self.rate_limited),
            "faults_injected": dict(self.faults_injected),
            "max_1s_window": dict(self.max_1s_window),
            "revocations": self.revocations,
            "refresh_reuse_detected": self.refresh_reuse_detected,
            "late_answers": dict(self.late_answers),
            "batch": {
                "requests": self.batch_requests,
                "parts": self.batch_parts,
                "max_parts": self.batch_max_parts,
                "overflow_parts": self.batch_overflow_parts,
            },
        }
