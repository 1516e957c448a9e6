"""Shared-secret and HMAC-SHA256 checks for webhooks, and short-lived tokens for our own form page."""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "x-pass24-signature"
SECRET_HEADER = "x-pass24-secret"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_authentic(secret: str, body: bytes, headers: dict[str, str],
                      body_secret: str = "") -> bool:
    """HMAC of the raw body (preferred), the shared secret in a header, or in the body (Bitrix24)."""
    if not secret:
        return False
    signature = headers.get(SIGNATURE_HEADER, "")
    if signature:
        return hmac.compare_digest(signature, sign(secret, body))
    given = headers.get(SECRET_HEADER, "") or body_secret
    return bool(given) and hmac.compare_digest(given, secret)


def form_token(secret: str, now: float | None = None) -> str:
    issued = str(int(now if now is not None else time.time()))
    mac = hmac.new(secret.encode(), f"form:{issued}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{issued}.{mac}"


def form_token_valid(secret: str, token: str, *, max_age: float = 24 * 3600,
                     now: float | None = None) -> bool:
    issued, _, mac = token.partition(".")
    if not secret or not issued.isdigit() or not mac:
        return False
    expected = form_token(secret, float(issued)).partition(".")[2]
    age = (now if now is not None else time.time()) - int(issued)
    return hmac.compare_digest(mac, expected) and 0 <= age <= max_age
