"""The Google emulator as product tests use it: served in-process over real HTTP, driven through
its admin API, and a tiny "browser" that walks Google's consent page like a person would."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import httpx

if TYPE_CHECKING:
    from emulator import EmulatorState


@dataclass
class GoogleEmulator:
    """A running emulator: `url` (its one origin), `admin` (httpx client on `/_emulator`), `state`
    (the in-process state, e.g. to list every token it ever issued)."""

    url: str
    admin: httpx.Client
    state: EmulatorState
    client_id: str
    client_secret: str

    def call(self, method: str, path: str, json: Any = None) -> Any:
        response = self.admin.request(method, path, json=json)
        assert response.status_code == 200, f"{method} /_emulator{path} -> {response.status_code}: {response.text}"
        return response.json()

    def reset(self) -> None:
        self.call("POST", "/reset", {})

    def register_client(self, *redirect_uris: str, client_id: str | None = None, secret: str | None = None) -> None:
        self.call(
            "POST",
            "/clients",
            {
                "client_id": client_id or self.client_id,
                "client_secret": secret or self.client_secret,
                "add_redirect_uris": list(redirect_uris),
            },
        )

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", "/stats")
        return result

    def refresh_grants(self, email: str) -> int:
        return int(self.stats()["refresh_by_account"].get(email, 0))

    def advance_clock(self, seconds: float) -> None:
        self.call("POST", "/clock", {"advance_seconds": seconds})

    def faults(self, *specs: dict[str, Any]) -> None:
        self.call("POST", "/faults", list(specs))

    def clear_faults(self) -> None:
        self.call("DELETE", "/faults")

    def revoke_account(self, email: str) -> None:
        self.call("POST", f"/accounts/{email}/revoke", {})

    def issued_secrets(self) -> set[str]:
        """Every access token, refresh token and authorization code the emulator has issued."""
        with self.state.lock:
            return set(self.state.access_tokens) | set(self.state.refresh_tokens) | set(self.state.codes)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        data = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": data.get("action", ""), "method": data.get("method", "get"), "inputs": []})
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"].append(data)


def consent_form(html: str, page_url: str) -> tuple[str, dict[str, str], list[str]]:
    """(absolute action URL, hidden fields, selectable account emails) of the consent page's form."""
    parser = _FormParser()
    parser.feed(html)
    assert parser.forms, "no form on the consent page"
    form = parser.forms[0]
    hidden = {i["name"]: i.get("value", "") for i in form["inputs"] if i.get("type") == "hidden"}
    accounts = [i["value"] for i in form["inputs"] if i.get("type") == "radio" and i.get("name") == "account"]
    return urljoin(page_url, form["action"]), hidden, accounts


HTML = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}


def walk_to_google(
    browser: httpx.Client, api_url: str, *, next_path: str | None = None, **params: str
) -> httpx.Response:
    """GET /auth/login and follow its redirect to the consent page; returns the consent page."""
    query = dict(params)
    if next_path is not None:
        query["next"] = next_path
    start = browser.get(f"{api_url}/auth/login", params=query, headers=HTML)
    assert start.status_code == 302, start.text
    page = browser.get(start.headers["location"], headers=HTML)
    assert page.status_code == 200, page.text
    return page


def decide(browser: httpx.Client, consent_page: httpx.Response, email: str, decision: str = "allow") -> str:
    """Submit the consent form like a person; returns the callback URL Google redirects to."""
    action, hidden, accounts = consent_form(consent_page.text, str(consent_page.url))
    assert email in accounts, f"{email} not offered on the consent page: {accounts}"
    answer = browser.post(action, data={**hidden, "account": email, "decision": decision}, headers=HTML)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def sign_in(
    browser: httpx.Client, api_url: str, email: str, *, decision: str = "allow", next_path: str | None = None
) -> httpx.Response:
    """The whole browser walk: login -> consent -> callback. Returns the callback's response."""
    callback = decide(browser, walk_to_google(browser, api_url, next_path=next_path), email, decision)
    return browser.get(callback, headers=HTML)
