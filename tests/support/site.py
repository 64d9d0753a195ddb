"""The whole site for page and browser tests: the API (pages included) over real HTTP in front of a
clean database and the shared emulator, with the admin password user and admin email configured."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser

import httpx
from sqlalchemy import Engine

from api.app import create_app
from driveguard.config import load_settings
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
    with serve_asgi(create_app(settings, engine, clock=clock), port=port), httpx.Client(timeout=30) as browser:
        yield Stack(url, settings, engine, clock, emu, browser, Sleeps())


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
