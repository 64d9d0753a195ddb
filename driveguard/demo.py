"""The local demo's data: real sign-ins, weeks of Reports history and one collection (`driveguard demo seed`).

Everything goes through the product's real paths, so a newcomer's first page shows what the
product really does: each emulator account signs in through the API's `/auth/login`, the
emulator's consent page and the callback (as a browser would, then signs out again); the Workspace
admin grants the Reports scope the same way; past days come from the emulator's Reports endpoint
through the backfill's public entry point (`pipelines.backfill_day`, what the `storage_backfill`
DAG task calls, so the way daily rows are keyed stays the backfill's business); and one collection
runs the `storage_collect` task bodies in order (plan, collect, quality gate, alerts, read model).

Never in a real deployment: `check_demo_allowed` refuses unless the settings say the local
launcher (`DRIVEGUARD_ENV=local`; anything unset reads as production) and every Google endpoint
is an emulator on this machine. Running it twice adds nothing twice: signed-in accounts are
skipped, backfilled days and the collected interval are upserts, alerts move only on a change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from sqlalchemy import Engine, select

from driveguard import pipelines
from driveguard.clock import Clock, utcnow
from driveguard.config import SCOPE_REPORTS_USAGE, Settings
from driveguard.db.engine import transaction
from driveguard.db.models import AccountStatus, GoogleAccount
from driveguard.google.reports import DataNotYetAvailable
from driveguard.storage.interval import Interval, floor_interval

DEMO_ENVIRONMENTS = frozenset({"local"})
"""`DRIVEGUARD_ENV` values that may hold demo data: only what `make run` sets (default: production)."""
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_WEEKS = 6
REPORTS_LAG_DAYS = 3
"""Google publishes a day 2-3 days late: the backfill reaches this far further back, so the weeks
asked for are complete even though the newest days are not available yet."""
COLLECT_STEP = dt.timedelta(hours=1)
HTML = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}

Progress = Callable[[str, int, int], None]
"""`progress(phase, done, total)`: called as each phase starts (done 0) and after each step."""


class DemoRefused(Exception):
    """The settings are not the local demo's: demo data must never reach a real deployment."""


class DemoFailed(Exception):
    """A step of the demo did not go as a browser or a pipeline task would expect."""


def check_demo_allowed(settings: Settings) -> str:
    """The emulator's base URL when demo data may be written here; DemoRefused (naming why) otherwise."""
    if settings.env not in DEMO_ENVIRONMENTS:
        raise DemoRefused(
            f"demo data is only for the local launcher (DRIVEGUARD_ENV=local, as `make run` sets); "
            f"this deployment says DRIVEGUARD_ENV={settings.env!r}"
        )
    emulator = settings.google.emulator_url
    if not emulator or urlsplit(emulator).hostname not in LOCAL_HOSTS:
        raise DemoRefused("demo data needs Google to be the local emulator (GOOGLE_EMULATOR_URL on this machine)")
    base = emulator.rstrip("/")
    endpoints = settings.google.endpoints
    urls = (endpoints.auth_uri, endpoints.token_uri, endpoints.drive_api_url, endpoints.admin_api_url)
    if not all(url.startswith(base + "/") for url in urls):
        raise DemoRefused("demo data needs every Google endpoint on the emulator; some point elsewhere")
    return base


@dataclass
class SeedReport:
    """What one `seed` did; the counts are zero on a second run (nothing is added twice)."""

    accounts: list[str] = field(default_factory=list)
    signed_in: list[str] = field(default_factory=list)
    already_signed_in: list[str] = field(default_factory=list)
    reports_granted: bool = False
    backfill_from: str | None = None
    backfill_to: str | None = None
    backfilled_days: int = 0
    days_not_ready: list[str] = field(default_factory=list)
    snapshots_inserted: int = 0
    snapshots_updated: int = 0
    collected_interval: str | None = None
    collected: int = 0
    alerts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accounts": list(self.accounts),
            "signed_in": list(self.signed_in),
            "already_signed_in": list(self.already_signed_in),
            "reports_granted": self.reports_granted,
            "backfill": {
                "from": self.backfill_from,
                "to": self.backfill_to,
                "days": self.backfilled_days,
                "days_not_ready": list(self.days_not_ready),
                "inserted": self.snapshots_inserted,
                "updated": self.snapshots_updated,
            },
            "collection": {"interval_start": self.collected_interval, "collected": self.collected},
            "alerts": dict(self.alerts),
        }


class _FormParser(HTMLParser):
    """The consent page's first form: action, hidden fields and the accounts offered (radio buttons)."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.hidden: dict[str, str] = {}
        self.accounts: list[str] = []
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        data = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action, self._in_form = data.get("action", ""), True
        elif tag == "input" and self._in_form:
            if data.get("type") == "hidden" and data.get("name"):
                self.hidden[data["name"]] = data.get("value", "")
            elif data.get("type") == "radio" and data.get("name") == "account":
                self.accounts.append(data.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def _expect(response: httpx.Response, status: int, step: str) -> httpx.Response:
    if response.status_code != status:
        raise DemoFailed(f"{step}: expected HTTP {status}, got {response.status_code}: {response.text[:200]}")
    return response


def browser_sign_in(browser: httpx.Client, api_url: str, email: str, **params: str) -> None:
    """What a person does: open /auth/login, pick `email` on Google's consent page, allow, follow the callback."""
    start = _expect(browser.get(f"{api_url}/auth/login", params=params, headers=HTML), 302, "GET /auth/login")
    page = _expect(browser.get(start.headers["location"], headers=HTML), 200, "the consent page")
    form = _FormParser()
    form.feed(page.text)
    if form.action is None or email not in form.accounts:
        raise DemoFailed(f"the consent page does not offer {email}")
    decision = browser.post(
        urljoin(str(page.url), form.action), data={**form.hidden, "account": email, "decision": "allow"}, headers=HTML
    )
    callback = _expect(decision, 302, "the consent decision").headers["location"]
    _expect(browser.get(callback, headers=HTML), 303, f"the callback for {email}")


def _sign_out(browser: httpx.Client, api_url: str) -> None:
    """End the session the sign-in opened: the demo needs the grant, not a live session."""
    _expect(browser.post(f"{api_url}/auth/logout", headers={"Accept": "application/json"}), 200, "POST /auth/logout")


def _signed_in(engine: Engine) -> dict[str, list[str]]:
    """Accounts holding a usable grant (active, with a refresh token): email -> granted scopes."""
    with transaction(engine) as db:
        rows = db.execute(
            select(GoogleAccount.email, GoogleAccount.granted_scopes).where(
                GoogleAccount.status == AccountStatus.ACTIVE, GoogleAccount.refresh_token_ciphertext.is_not(None)
            )
        ).all()
    return {email: list(scopes or []) for email, scopes in rows}


class DemoSeeder:
    """Seeds the demo through the running API (`api_url`, default the public URL) and the emulator."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        api_url: str | None = None,
        clock: Clock = utcnow,
        progress: Progress | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.emulator_url = check_demo_allowed(settings)
        self.settings = settings
        self.engine = engine
        self.api_url = (api_url or settings.server.public_url).rstrip("/")
        self.clock = clock
        self.progress: Progress = progress or (lambda _phase, _done, _total: None)
        self.transport = transport
        self.runtime = pipelines.Runtime(settings, engine, clock=clock)

    def _browser(self) -> httpx.Client:
        return httpx.Client(timeout=30, transport=self.transport)

    def emulator_accounts(self) -> list[str]:
        """The emulator's people (its loopback-only control API; the demo refuses any other emulator)."""
        with self._browser() as client:
            answer = _expect(client.get(f"{self.emulator_url}/_emulator/accounts"), 200, "the emulator's accounts")
        return sorted(str(account["email"]) for account in answer.json()["accounts"])

    def seed(self, *, weeks: int = DEFAULT_WEEKS) -> SeedReport:
        if weeks < 1:
            raise ValueError("weeks must be at least 1")
        report = SeedReport(accounts=self.emulator_accounts())
        self.sign_in_all(report)
        self.backfill(report, weeks)
        self.collect(report)
        return report

    def sign_in_all(self, report: SeedReport) -> None:
        known = _signed_in(self.engine)
        admin = (self.settings.google.workspace_admin_email or "").lower()
        self.progress("signing in", 0, len(report.accounts))
        for done, email in enumerate(report.accounts, start=1):
            needs_reports = email == admin and SCOPE_REPORTS_USAGE not in known.get(email, [])
            if email in known and not needs_reports:
                report.already_signed_in.append(email)
            else:
                with self._browser() as browser:
                    if email not in known:
                        browser_sign_in(browser, self.api_url, email)
                        report.signed_in.append(email)
                    if needs_reports:  # incremental consent, as the banner's "Backfill grant" link asks
                        browser_sign_in(browser, self.api_url, email, grant="workspace-reports")
                        report.reports_granted = True
                    _sign_out(browser, self.api_url)
            self.progress("signing in", done, len(report.accounts))

    def backfill(self, report: SeedReport, weeks: int) -> None:
        """Days `weeks` * 7 + the Reports lag back up to yesterday; days Google has not published yet are
        left to the `storage_backfill` DAG, never stored as zero."""
        today = self.clock().astimezone(dt.UTC).date()
        days = [today - dt.timedelta(days=back) for back in range(weeks * 7 + REPORTS_LAG_DAYS, 0, -1)]
        report.backfill_from, report.backfill_to = days[0].isoformat(), days[-1].isoformat()
        self.progress("backfilling", 0, len(days))
        for done, day in enumerate(days, start=1):
            start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
            try:
                counts = pipelines.backfill_day(self.runtime, Interval(start, start + dt.timedelta(days=1)))
            except DataNotYetAvailable:
                report.days_not_ready.append(day.isoformat())
            except pipelines.BackfillNotConfigured as exc:
                raise DemoFailed(f"the backfill cannot run: {exc}") from None
            else:
                report.backfilled_days += 1
                report.snapshots_inserted += int(counts["inserted"])
                report.snapshots_updated += int(counts["updated"])
            self.progress("backfilling", done, len(days))

    def collect(self, report: SeedReport) -> None:
        """One run of the `storage_collect` task bodies for the newest interval the cadence collects."""
        interval = floor_interval(self.clock(), COLLECT_STEP)
        plan = pipelines.collect_plan(self.runtime, interval)
        for _ in range(24):  # a cadence above one hour skips some hours: take the newest one it collects
            if not plan["skipped"]:
                break
            interval = Interval(interval.start - COLLECT_STEP, interval.start)
            plan = pipelines.collect_plan(self.runtime, interval)
        shards = plan["shards"]
        steps = len(shards) + 3
        self.progress("collecting", 0, steps)
        for done, shard in enumerate(shards, start=1):
            counts = pipelines.collect_shard(self.runtime, shard)
            report.collected += int(counts.get("collected", 0))
            self.progress("collecting", done, steps)
        pipelines.check_quality(self.runtime, interval)  # quarantines what fails a check; alerts skip those
        self.progress("collecting", len(shards) + 1, steps)
        report.alerts = {k: int(v) for k, v in pipelines.evaluate_alerts(self.runtime, interval).items()}
        self.progress("collecting", len(shards) + 2, steps)
        pipelines.refresh_read_model(self.runtime, interval)
        self.progress("collecting", steps, steps)
        report.collected_interval = interval.start.isoformat()


def seed_demo(
    settings: Settings,
    engine: Engine,
    *,
    weeks: int = DEFAULT_WEEKS,
    api_url: str | None = None,
    clock: Clock = utcnow,
    progress: Progress | None = None,
) -> SeedReport:
    """Refuses (DemoRefused) outside the local demo before anything is read or written."""
    return DemoSeeder(settings, engine, api_url=api_url, clock=clock, progress=progress).seed(weeks=weeks)
