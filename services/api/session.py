"""Browser sessions: ``POST /session`` trades a bearer token for an HttpOnly cookie.

The cookie holds no token: it is ``<token sha256>.<expiry>.<HMAC>``, signed with
the session secret, so every replica accepts it and revoking the token (removing
it from the token file) ends its sessions too. It is ``HttpOnly`` (page scripts
cannot read it), ``SameSite=Strict`` (other sites' pages do not send it) and
``Secure`` when the request came over https.

Cookie-authenticated writes need the ``X-Pass24-CSRF: 1`` header and, when the
browser sends an ``Origin``, one equal to this server's: a cross-site form can
set neither, and a cross-site script cannot send the header without a CORS
preflight this API never grants.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from fastapi import Request

from services.api.auth import Principal, TokenStore, token_hash

COOKIE = "pass24_session"
CSRF_HEADER = "x-pass24-csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def derive_secret(session_secret: str, audit_key: str) -> bytes:
    """The configured secret, or one derived from the audit key (a labelled HMAC)."""
    if session_secret:
        return session_secret.encode()
    return hmac.new(audit_key.encode(), b"pass24-desk session cookies", hashlib.sha256).digest()


def _mac(secret: bytes, digest: str, expires: int) -> str:
    return hmac.new(secret, f"{digest}.{expires}".encode(), hashlib.sha256).hexdigest()


def session_value(secret: bytes, token: str, *, max_age: int, now: float | None = None) -> str:
    digest = token_hash(token)
    expires = int(now if now is not None else time.time()) + max_age
    return f"{digest}.{expires}.{_mac(secret, digest, expires)}"


def session_principal(secret: bytes, value: str, tokens: TokenStore,
                      *, now: float | None = None) -> Principal | None:
    """Who the cookie stands for, or None (forged, expired or revoked)."""
    digest, _, rest = value.partition(".")
    expires, _, mac = rest.partition(".")
    if not (digest and expires.isdigit() and mac.isascii() and len(expires) < 12):
        return None
    if not hmac.compare_digest(mac.encode(), _mac(secret, digest, int(expires)).encode()):
        return None
    if int(expires) < (now if now is not None else time.time()):
        return None
    return tokens.authenticate_digest(digest)


def csrf_refusal(request: Request) -> str | None:
    """Why a cookie-authenticated request may not proceed; None when it may."""
    if request.method in SAFE_METHODS:
        return None
    if request.headers.get(CSRF_HEADER) != "1":
        return f"a write signed in by cookie needs the header {CSRF_HEADER.title()}: 1"
    origin = request.headers.get("origin")
    if origin is not None:
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin != own:
            return f"origin {origin!r} is not this server"
    return None
