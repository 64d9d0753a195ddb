"""RS256 signing keys for id_tokens, published as a JWKS like `/oauth2/v3/certs`.

Google rotates its keys and keeps the previous one published for a while; the key ring does
the same so the product's JWKS caching and unknown-`kid` handling can be exercised.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


@dataclass
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    created: float
    retire_at: float | None = None
    """When a rotated-out key leaves the JWKS; None while it is the signing key."""

    def jwk(self) -> dict[str, Any]:
        data: dict[str, Any] = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid, "n": data["n"], "e": data["e"]}


def new_key(now: float) -> SigningKey:
    """Generate a 2048-bit key; its kid is a SHA-1 of the modulus, hex like Google's kids."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    modulus = private.public_key().public_numbers().n.to_bytes(256, "big")
    kid = hashlib.sha1(modulus, usedforsecurity=False).hexdigest()
    return SigningKey(kid=kid, private_key=private, created=now)


class KeyRing:
    """The current signing key plus rotated-out keys still published."""

    def __init__(self, now: float) -> None:
        self.keys: list[SigningKey] = [new_key(now)]
        self.initial = self.keys[0]

    @property
    def current(self) -> SigningKey:
        return self.keys[-1]

    def rotate(self, now: float, overlap_seconds: int, *, drop_old: bool = False) -> SigningKey:
        for key in self.keys:
            if drop_old:
                key.retire_at = now
            elif key.retire_at is None:
                key.retire_at = now + overlap_seconds
        self.keys.append(new_key(now))
        self.prune(now)
        return self.current

    def prune(self, now: float) -> None:
        self.keys = [k for k in self.keys if k.retire_at is None or k.retire_at > now]

    def reset(self) -> None:
        self.initial.retire_at = None
        self.keys = [self.initial]

    def jwks(self, now: float) -> dict[str, Any]:
        self.prune(now)
        return {"keys": [k.jwk() for k in reversed(self.keys)]}

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.current
        return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid, "typ": "JWT"})
