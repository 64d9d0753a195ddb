"""The leak search, run last in the suite (the file sorts last): every token, code, key and
password issued during the suite — by the emulator (its admin state), by the API (cookies and
tokens in its responses), and the deployment's own secrets — is looked for in every log line the
suite produced (all loggers, the API and the emulator included) and in a dump of the database
taken after each test. Its own sign-ins, admin tokens, refreshes and failures make sure there is
something to find when it runs alone."""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid

from support.attacks import Ledger, dump_database
from support.emulator import sign_in
from support.signin import ADMIN_EMAIL, ADMIN_USER, Stack

WRONG_PASSWORD = "a wrong password typed by the admin 7f3a9c"


def test_no_secret_issued_in_the_suite_reaches_a_log_or_the_database(stack: Stack, ledger: Ledger, database_url: str):
    # A journey that issues every kind of secret: sign-ins (codes, tokens, sessions), an admin
    # token by password and by session, a wrong password, a refresh, a callback with a code.
    for email in ("alice@gmail.com", ADMIN_EMAIL):
        assert sign_in(stack.browser, stack.url, email).status_code == 303
    exchanged = stack.browser.post(f"{stack.url}/api/auth/token", json={"grant_type": "session"})
    assert exchanged.status_code == 200
    stack.admin_token()
    with stack.api() as anonymous:
        body = {"grant_type": "password", "username": ADMIN_USER, "password": WRONG_PASSWORD}
        assert anonymous.post("/api/auth/token", json=body).status_code == 401
        anonymous.get("/auth/callback", params={"state": "s" * 40, "code": "4/leaked-code-" + "c" * 30})
    ledger.secret(WRONG_PASSWORD, "4/leaked-code-" + "c" * 30)
    with contextlib.closing(stack.token_service()) as tokens:
        account = stack.account("alice@gmail.com")
        stack.advance(3600)
        tokens.refresh_if_expiring(account.id, within_seconds=600)
    ledger.secrets.update(stack.emu.issued_secrets())
    ledger.dumps.append(dump_database(database_url))

    assert len(ledger.secrets) >= 10 and ledger.log_lines and ledger.dumps
    # The search can find something: a canary logged by a product logger from a server thread is captured.
    canary = "canary-" + uuid.uuid4().hex
    thread = threading.Thread(target=logging.getLogger("driveguard.canary").warning, args=(canary,))
    thread.start()
    thread.join()
    assert any(canary in line for line in ledger.log_lines)
    found = []
    for secret in sorted(ledger.secrets):
        in_logs = sum(secret in line for line in ledger.log_lines)
        in_dumps = sum(secret in dump for dump in ledger.dumps)
        ledger.attack(
            "secret leak", not in_logs and not in_dumps, f"{secret[:6]}…: {in_logs} log lines, {in_dumps} dumps"
        )
        if in_logs or in_dumps:
            found.append(secret[:6])
    assert not found
