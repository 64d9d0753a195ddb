"""Keyset cursors for the storage reads: opaque to clients (URL-safe base64 of a small JSON list
naming the list it belongs to and the position after the last row), checked when they come back."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from driveguard.errors import InvalidInput


def encode_cursor(payload: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """The payload, or a 400 (`invalid-cursor`) for anything this API did not issue."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this API issued", code="invalid-cursor") from None
    if not isinstance(payload, list):
        raise InvalidInput("cursor is not one this API issued", code="invalid-cursor")
    return payload
