"""Password hashes for the configured admin users (scrypt, from the standard library).

Config holds only `name:<hash>` entries made by `driveguard hash-password`, never
a plaintext password. The format is `scrypt$<log2 n>$<r>$<p>$<salt>$<hash>` in unpadded
base64url, so it contains no `:`, `,` or whitespace (the separators of DRIVEGUARD_ADMIN_USERS).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import re

SCHEME = "scrypt"
DEFAULT_LOG2_N = 15
DEFAULT_R = 8
DEFAULT_P = 1
_DKLEN = 32
_FORMAT = re.compile(r"scrypt\$(\d{1,2})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]{16,88})\$([A-Za-z0-9_-]{43})")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=_DKLEN, maxmem=256 * n * r * p + 2**20)


def hash_password(password: str, *, log2_n: int = DEFAULT_LOG2_N, r: int = DEFAULT_R, p: int = DEFAULT_P) -> str:
    """A salted scrypt hash of `password` in the config format."""
    if not password:
        raise ValueError("the password must not be empty")
    salt = os.urandom(16)
    return f"{SCHEME}${log2_n}${r}${p}${_b64(salt)}${_b64(_scrypt(password, salt, log2_n, r, p))}"


def check_hash_format(encoded: str) -> None:
    """Raise ValueError (without echoing the hash) unless `encoded` is a hash this module made."""
    match = _FORMAT.fullmatch(encoded)
    if not match:
        raise ValueError("expected scrypt$<log2 n>$<r>$<p>$<salt>$<hash> (make one with `driveguard hash-password`)")
    log2_n, r, p = (int(match.group(i)) for i in (1, 2, 3))
    if not (10 <= log2_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16):
        raise ValueError("scrypt parameters out of range (log2 n 10..20, r 1..32, p 1..16)")


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of `password` against a stored hash; False for any malformed input."""
    match = _FORMAT.fullmatch(encoded)
    if not match:
        return False
    log2_n, r, p = (int(match.group(i)) for i in (1, 2, 3))
    salt, expected = _unb64(match.group(4)), _unb64(match.group(5))
    try:
        actual = _scrypt(password, salt, log2_n, r, p)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password, checked when the user name is unknown so that the response
    time does not reveal which admin names exist."""
    return hash_password(_b64(os.urandom(16)))


def verify_user(password: str, encoded: str | None) -> bool:
    """`verify_password`, spending the same time when there is no such user."""
    if encoded is None:
        verify_password(password, _dummy_hash())
        return False
    return verify_password(password, encoded)
