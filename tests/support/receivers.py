"""Real local receivers for notifications: an SMTP server (aiosmtpd) and an HTTP server that
records JSON posts. Both keep every raw delivery and dedupe by idempotency key, like a
receiver that honours Driveguard's keys would."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from support.servers import free_port


@dataclass
class Delivery:
    key: str | None
    subject: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)


class _Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deliveries: list[Delivery] = []

    def add(self, delivery: Delivery) -> None:
        with self.lock:
            self.deliveries.append(delivery)

    def clear(self) -> None:
        with self.lock:
            self.deliveries.clear()

    def raw_count_by_key(self) -> Counter[str | None]:
        with self.lock:
            return Counter(d.key for d in self.deliveries)

    def unique(self) -> list[Delivery]:
        """What a receiver deduplicating on the idempotency key keeps."""
        seen: set[str | None] = set()
        out: list[Delivery] = []
        with self.lock:
            for delivery in self.deliveries:
                if delivery.key is None or delivery.key not in seen:
                    seen.add(delivery.key)
                    out.append(delivery)
        return out


class SmtpReceiver(_Recorder):
    """aiosmtpd on a free loopback port; `url(to)` is the apprise mailto:// target for it."""

    def __init__(self) -> None:
        super().__init__()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        part = message.get_body(preferencelist=("plain",)) if message.is_multipart() else message
        body = part.get_content() if part is not None else ""
        self.add(
            Delivery(
                key=message.get("X-Idempotency-Key"),
                subject=str(message.get("Subject", "")),
                body=body,
                headers={k: str(v) for k, v in message.items()},
            )
        )
        return "250 OK"

    def url(self, to: str = "ops@example.com") -> str:
        return f"mailto://127.0.0.1:{self.port}?from=driveguard@example.com&to={to}"

    def start(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


class HttpReceiver(_Recorder):
    """ThreadingHTTPServer recording JSON posts; `fail_next` makes it answer 500 that many times."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_next = 0
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with recorder.lock:
                    failing = recorder.fail_next > 0
                    if failing:
                        recorder.fail_next -= 1
                if failing:
                    self.send_response(500)
                    self.end_headers()
                    return
                try:
                    payload = json.loads(raw or b"{}")
                except ValueError:
                    payload = {"raw": raw.decode("utf-8", "replace")}
                recorder.add(
                    Delivery(
                        key=self.headers.get("Idempotency-Key") or payload.get("idempotency_key"),
                        subject=str(payload.get("title", "")),
                        body=str(payload.get("message", "")),
                        headers={"path": self.path, **dict(self.headers.items())},
                    )
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hooks/driveguard") -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def start(self) -> HttpReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
