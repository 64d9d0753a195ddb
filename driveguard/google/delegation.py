"""Access tokens from a service account with domain-wide delegation (how Workspace admins run GAM).

The service account signs a JWT for `subject` (the Workspace admin it acts as) and the wanted
scopes, and trades it at its keyfile's `token_uri` (RFC 7523 JWT-bearer grant) through google-auth.
Only a service account key can do this: anything else (application default credentials, a user's
credentials) is refused here rather than quietly acting as someone else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import google_auth_httplib2
import httplib2
from google.auth.exceptions import RefreshError
from google.oauth2 import service_account

DelegatedCredentials = Any
"""A google-auth credentials object; it must be a service account's (`with_subject`) to be used."""


class DelegationFailed(Exception):
    """The service account cannot act as the admin: not a service account key, no domain-wide
    delegation for the scope, or a key Google does not accept. Not retried into success: fix the setup."""


def delegated_access_token(
    credentials: DelegatedCredentials, *, subject: str, scopes: Sequence[str], timeout: float
) -> str:
    """A fresh access token for `subject` with exactly `scopes`. An unreachable token endpoint raises
    google-auth's TransportError (the task's retries may help); a refusal raises DelegationFailed."""
    if not isinstance(credentials, service_account.Credentials):
        raise DelegationFailed(
            f"domain-wide delegation needs a service account key (keyfile JSON), got {type(credentials).__name__}"
        )
    delegated = credentials.with_scopes(list(scopes)).with_subject(subject)
    request = google_auth_httplib2.Request(httplib2.Http(timeout=timeout))
    try:
        delegated.refresh(request)
    except RefreshError as exc:
        data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
        error = str(data.get("error") or "")
        if error == "unauthorized_client":
            raise DelegationFailed(
                f"service account {credentials.service_account_email} has no domain-wide delegation for "
                f"{' '.join(scopes)}: add its client id with that scope in the Admin console "
                "(Security > Access and data control > API controls > Manage domain-wide delegation)"
            ) from None
        raise DelegationFailed(
            f"Google refused service account {credentials.service_account_email} acting as {subject}: "
            f"{error or 'error'}: {data.get('error_description') or exc.args[0]}"
        ) from None
    token: str = delegated.token
    return token
