"""Test helpers for the emulator: serve it in a background thread, drive its admin API.

`serve()` starts a real uvicorn server on a free loopback port (real HTTP, as the product
will see it); `AdminClient` wraps the `/_emulator/` routes with small typed methods. They live
with the tests, not in the emulator package: the emulator itself never needs them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from emulator.app import create_app
from emulator.state import EmulatorState
from support.servers import serve_asgi


@contextmanager
def serve(state: EmulatorState | None = None, *, log_level: str = "warning") -> Iterator[str]:
    """Serve the emulator on 127.0.0.1:<free port>; yield its base URL; stop it on exit."""
    with serve_asgi(create_app(state), log_level=log_level) as base_url:
        yield base_url


class AdminClient:
    """The `/_emulator/` control surface over HTTP; every method raises on a non-200 answer."""

    def __init__(self, base_url: str, *, admin_token: str | None = None, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"X-Emulator-Admin-Token": admin_token} if admin_token else {}
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, json: Any = None, params: dict[str, str] | None = None) -> Any:
        response = self.http.request(method, "/_emulator" + path, json=json, params=params)
        if response.status_code != 200:
            raise AssertionError(f"{method} /_emulator{path} -> {response.status_code}: {response.text}")
        return response.json()

    def reset(self, seed: str | None = None) -> Any:
        return self.call("POST", "/reset", {"seed": seed} if seed else {})

    def accounts(self) -> dict[str, dict[str, Any]]:
        return {a["email"]: a for a in self.call("GET", "/accounts")["accounts"]}

    def upsert_accounts(self, accounts: list[dict[str, Any]]) -> Any:
        return self.call("POST", "/accounts", {"accounts": accounts})

    def patch_account(self, email: str, **fields: Any) -> Any:
        return self.call("PATCH", f"/accounts/{email}", fields)

    def grant(self, email: str, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", f"/accounts/{email}/grant", body)
        return result

    def grants(self, emails: list[str], **body: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("POST", "/grants", {"emails": emails, **body})["grants"]
        return result

    def revoke(self, email: str, client_id: str | None = None) -> Any:
        return self.call("POST", f"/accounts/{email}/revoke", {"client_id": client_id} if client_id else {})

    def expire_tokens(self, email: str | None = None, kind: str = "access") -> int:
        body: dict[str, Any] = {"kind": kind}
        if email:
            body["email"] = email
        expired: int = self.call("POST", "/tokens/expire", body)["expired"]
        return expired

    def advance_clock(self, seconds: float) -> Any:
        return self.call("POST", "/clock", {"advance_seconds": seconds})

    def faults(self, *specs: dict[str, Any]) -> Any:
        return self.call("POST", "/faults", list(specs))

    def clear_faults(self, group: str | None = None) -> Any:
        return self.call("DELETE", "/faults", params={"group": group} if group else None)

    def config(self, **values: Any) -> Any:
        return self.call("PATCH", "/config", values)

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", "/stats")
        return result

    def reset_stats(self) -> Any:
        return self.call("POST", "/stats/reset")

    def rotate_keys(self, **body: Any) -> Any:
        return self.call("POST", "/keys/rotate", body)

    def create_service_account(self, name: str = "backfill", **body: Any) -> dict[str, Any]:
        """A service account (its keyfile JSON under `keyfile`); `delegated_scopes=[…]` delegates."""
        result: dict[str, Any] = self.call("POST", "/service-accounts", {"name": name, **body})
        return result

    def delegate(self, email: str, **body: Any) -> dict[str, Any]:
        """`delegated_scopes=[…]` replaces the delegation, `grant=[…]` / `withhold=[…]` change it."""
        result: dict[str, Any] = self.call("PATCH", f"/service-accounts/{email}", body)
        return result


@dataclass
class RunningEmulator:
    """A served emulator as a test sees it: base URL, one registered client, an admin client."""

    base_url: str
    admin: AdminClient
    client_id: str
    client_secret: str
    redirect_uri: str

    def url(self, path: str) -> str:
        return self.base_url + path

    def grant(self, email: str, **body: Any) -> dict[str, Any]:
        """Tokens for `email` as if it had consented to this client earlier."""
        return self.admin.grant(email, client_id=self.client_id, **body)


def raw_batch(
    emu: RunningEmulator, tokens: list[str], path: str = "/drive/v3/about?fields=storageQuota"
) -> httpx.Response:
    boundary = "batch_test_boundary"
    parts = []
    for i, token in enumerate(tokens):
        parts.append(
            f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{i}>\r\n\r\n"
            f"GET {path} HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
    body = "".join(parts) + f"--{boundary}--\r\n"
    return httpx.post(
        emu.url("/batch/drive/v3"),
        content=body.encode(),
        headers={"Content-Type": f"multipart/mixed; boundary={boundary}"},
    )


def split_parts(response: httpx.Response) -> list[tuple[str, int, str]]:
    boundary = re.search(r"boundary=(\S+)", response.headers["content-type"])
    assert boundary is not None
    out = []
    for chunk in response.text.split("--" + boundary.group(1))[1:-1]:
        content_id = re.search(r"Content-ID: <([^>]+)>", chunk)
        status = re.search(r"HTTP/1.1 (\d{3})", chunk)
        assert content_id and status
        out.append((content_id.group(1), int(status.group(1)), chunk))
    return out
