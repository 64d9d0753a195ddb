"""A browser tab for the browser tests (tests/browser): CSP violations and every requested URL are
recorded, and screenshots go to var/screenshots/ (test artifacts; var/ is not in git)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"


class Tab:
    """One browser tab on the site that records what the CSP blocked and every origin it loaded."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.csp_violations: list[str] = []
        self.requested: list[str] = []
        page.on("console", self._console)
        page.on("request", lambda request: self.requested.append(request.url))

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp_violations.append(message.text)

    def open(self, path: str) -> Any:
        return self.page.goto(f"{self.base_url}{path}")

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path
