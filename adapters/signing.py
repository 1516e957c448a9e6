"""Webhook authentication (timestamped HMAC-SHA256, or a shared secret) and our form's tokens.

A signed webhook sends ``X-Pass24-Timestamp: <Unix seconds>`` and
``X-Pass24-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body>``. A request
whose timestamp is more than ``max_age`` seconds from now is refused, and a
signature is accepted once: the replay cache remembers it for that window (twice
the window, so a clock step cannot reopen it). A captured request is worth
nothing five minutes later, nor a second time within them.

The shared-secret forms (``X-Pass24-Secret``, or ``auth[application_token]`` in a
Bitrix24 body) stay for senders that cannot sign; they are as strong as the
secret's confidentiality, and the intake's idempotency keys make their replays
no-ops.

Every header is compared as bytes: a non-ASCII or garbage signature is simply
not authentic (401), never an error.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

SIGNATURE_HEADER = "x-pass24-signature"
TIMESTAMP_HEADER = "x-pass24-timestamp"
SECRET_HEADER = "x-pass24-secret"
DEFAULT_MAX_AGE = 300


def _bytes(text: str) -> bytes:
    # Header values arrive decoded as latin-1 (ASGI) or as whatever a client sent.
    return text.encode("utf-8", "surrogateescape")


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature header's value; with ``timestamp``, over ``b"<timestamp>." + body``."""
    payload = body if timestamp is None else f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """What a sender adds to a request: the timestamp and the signature over it."""
    timestamp = int(now if now is not None else time.time())
    return {"X-Pass24-Timestamp": str(timestamp),
            "X-Pass24-Signature": sign(secret, body, timestamp)}


class ReplayCache:
    """Keys seen recently, in a SQLite table: refuses a key twice, survives a restart.

    ``claim(key, value)`` stores the key with a value and an expiry, and returns the
    value already stored when the key was seen (so a caller can tell the same
    submission retried from another one)."""

    def __init__(self, path: Path | None) -> None:
        target = ":memory:" if path is None else str(path)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None,
                                   timeout=10)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("CREATE TABLE IF NOT EXISTS replay_cache (key TEXT PRIMARY KEY, "
                             "value TEXT NOT NULL, expires REAL NOT NULL)")

    def claim(self, key: str, value: str, *, ttl: float, now: float | None = None) -> str | None:
        """None when ``key`` is new (now claimed); else the value it was claimed with."""
        at = now if now is not None else time.time()
        with self._lock:
            self._db.execute("DELETE FROM replay_cache WHERE expires < ?", (at,))
            row = self._db.execute("INSERT INTO replay_cache (key, value, expires) VALUES (?, ?, ?) "
                                   "ON CONFLICT (key) DO NOTHING RETURNING key",
                                   (key, value, at + ttl)).fetchone()
            if row is not None:
                return None
            found = self._db.execute("SELECT value FROM replay_cache WHERE key = ?",
                                     (key,)).fetchone()
            return str(found[0]) if found else ""

    def close(self) -> None:
        self._db.close()


class WebhookVerifier:
    """One channel's webhook check: timestamped HMAC (replays refused) or the shared secret."""

    def __init__(self, secret: str, *, replays: ReplayCache, max_age: int = DEFAULT_MAX_AGE,
                 channel: str = "webhook", clock: Callable[[], float] = time.time) -> None:
        self.secret = secret
        self.replays = replays
        self.max_age = max_age
        self.channel = channel
        self.clock = clock

    def refusal(self, body: bytes, headers: Mapping[str, str], body_secret: str = "") -> str | None:
        """Why the request is not authentic, or None when it is."""
        if not self.secret:
            return "this channel has no secret configured"
        signature = headers.get(SIGNATURE_HEADER, "")
        if signature:
            return self._signed(body, signature, headers.get(TIMESTAMP_HEADER, ""))
        given = headers.get(SECRET_HEADER, "") or body_secret
        if given and hmac.compare_digest(_bytes(given), _bytes(self.secret)):
            return None
        return ("sign the body (X-Pass24-Timestamp and X-Pass24-Signature: "
                "sha256=<HMAC of '<timestamp>.<body>'>) or send the shared secret")

    def _signed(self, body: bytes, signature: str, timestamp: str) -> str | None:
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return "X-Pass24-Timestamp (Unix seconds) is required with a signature"
        skew = abs(self.clock() - int(timestamp))
        if skew > self.max_age:
            return f"the signature's timestamp is {int(skew)} s away from now (at most {self.max_age})"
        if not hmac.compare_digest(_bytes(signature), _bytes(sign(self.secret, body, int(timestamp)))):
            return "the signature does not match the body and timestamp"
        seen = self.replays.claim(f"{self.channel}:{signature}", "", ttl=2 * self.max_age,
                                  now=self.clock())
        if seen is not None:
            return "this signed request was already received (replay)"
        return None


def webhook_authentic(secret: str, body: bytes, headers: dict[str, str],
                      body_secret: str = "") -> bool:
    """Untimestamped check kept for callers outside the API (no replay protection)."""
    if not secret:
        return False
    signature = headers.get(SIGNATURE_HEADER, "")
    if signature:
        return hmac.compare_digest(_bytes(signature), _bytes(sign(secret, body)))
    given = headers.get(SECRET_HEADER, "") or body_secret
    return bool(given) and hmac.compare_digest(_bytes(given), _bytes(secret))


def form_token(secret: str, now: float | None = None, nonce: str | None = None) -> str:
    """A token for one form page: when it was issued, a nonce (so every page's token is
    its own and can be used once), and a MAC over both."""
    issued = str(int(now if now is not None else time.time()))
    nonce = nonce if nonce is not None else secrets.token_hex(8)
    mac = hmac.new(secret.encode(), f"form:{issued}:{nonce}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{issued}.{nonce}.{mac}"


def form_token_valid(secret: str, token: str, *, max_age: float = 24 * 3600,
                     now: float | None = None) -> bool:
    issued, nonce, mac = (token.split(".", 2) + ["", ""])[:3]
    if not secret or not (issued.isascii() and issued.isdigit()) or len(issued) > 12:
        return False
    if not (nonce.isascii() and nonce.isalnum() and len(nonce) <= 32 and mac):
        return False
    expected = form_token(secret, float(issued), nonce).rpartition(".")[2]
    age = (now if now is not None else time.time()) - int(issued)
    return hmac.compare_digest(_bytes(mac), _bytes(expected)) and 0 <= age <= max_age
