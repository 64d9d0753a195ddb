"""The whole site for page and browser tests: the API (pages included) over real HTTP in front of a
clean database and the shared emulator, with the admin password user and admin email configured."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser

import httpx
from sqlalchemy import Engine

from api.app import create_app
from driveguard import pipelines
from driveguard.config import load_settings
from driveguard.pipelines import Runtime
from driveguard.storage.interval import Interval
from support.clock import OffsetClock
from support.emulator import GoogleEmulator
from support.servers import free_port, serve_asgi
from support.signin import Sleeps, Stack, deployment_env


@contextmanager
def serve_site(emu: GoogleEmulator, engine: Engine, base_env: dict[str, str], **extra_env: str) -> Iterator[Stack]:
    """Start the API on a free port with its redirect URI registered at the emulator."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = load_settings(deployment_env(base_env, emu.url, url, **extra_env), env_file="/dev/null")
    emu.register_client(f"{url}/auth/callback")
    clock = OffsetClock()
    app = create_app(settings, engine, clock=clock)
    with serve_asgi(app, port=port), httpx.Client(timeout=30) as browser:
        yield Stack(url, settings, engine, clock, emu, browser, Sleeps(), app.state.read_audit)


class _Refs(HTMLParser):
    """Every URL a page makes the browser load (scripts, styles, icons, images) and every form."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []
        self.forms: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag in ("script", "img") and attr.get("src"):
            self.assets.append(attr["src"])
        if tag == "link" and attr.get("href"):
            self.assets.append(attr["href"])
        if tag == "form":
            self.forms.append(attr)


def page_refs(html: str) -> _Refs:
    refs = _Refs()
    refs.feed(html)
    return refs


def csrf_token(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def collect(stack: Stack, start: dt.datetime, usage: dict[str, int]) -> None:
    """One real collection of the hour starting at `start` (shards, Drive through the emulator,
    alerts, read model), after setting each account's usage at the emulator: how the pages get
    history without an Airflow run. Runs with the clock at the end of that hour."""
    for email, used in usage.items():
        stack.emu.call("PATCH", f"/accounts/{email}", {"usage": used, "usage_in_drive": used})
    interval = Interval.of(start, start + dt.timedelta(hours=1))
    rt = Runtime(stack.settings, stack.engine, clock=lambda: interval.end + dt.timedelta(minutes=5), sleep=stack.sleeps)
    for shard in pipelines.collect_plan(rt, interval)["shards"]:
        counts = pipelines.collect_shard(rt, shard)
        assert counts.get("failed", 0) == 0, counts
    pipelines.evaluate_alerts(rt, interval)
    pipelines.refresh_read_model(rt, interval)


def grow(stack: Stack, plan: dict[str, tuple[int, float, float]], *, days: int = 21) -> None:
    """`days` of daily collections (noon UTC, ending yesterday); each account's usage grows linearly
    from one percent of its limit to another (`plan`: email -> (limit, start %, end %))."""
    today = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    for email, (limit, _, _) in plan.items():
        stack.emu.call("PATCH", f"/accounts/{email}", {"limit": limit})
    for k in range(days):
        usage = {
            email: int(limit * (start + (end - start) * k / (days - 1)) / 100)
            for email, (limit, start, end) in plan.items()
        }
        collect(stack, today - dt.timedelta(days=days - k), usage)
