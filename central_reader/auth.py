"""Bearer tokens: generation and hashing (pure; the store keeps only the hash).

A token reads ``ecgt_<token_id>_<secret>``: ``token_id`` (12 hex) names it in logs and in
``ecg-central tokens revoke``; the 256-bit random secret makes a fast SHA-256 at rest
sufficient (no password-style stretching is needed for random secrets). Tokens travel as
gRPC metadata ``authorization: Bearer <token>``, over TLS outside development.
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["TOKEN_PREFIX", "bearer_token", "hash_token", "new_token", "token_id_of"]

TOKEN_PREFIX = "ecgt_"


def new_token() -> tuple[str, str]:
    """A fresh ``(token_id, token)``; show the token once, store ``hash_token(token)``."""
    token_id = secrets.token_hex(6)
    return token_id, f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    """SHA-256 hex of the token (what the store keeps)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_id_of(token: str) -> str | None:
    """The id part of a well-formed token, else None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    parts = token[len(TOKEN_PREFIX) :].split("_", 1)
    return parts[0] if len(parts) == 2 and len(parts[0]) == 12 else None


def bearer_token(header: str | None) -> str | None:
    """The token of an ``authorization: Bearer <token>`` value (any scheme case)."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
