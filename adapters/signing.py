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
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from projections.schema import create_schema, real_type
from projections.store import ReadStore, SQLiteReadStore

log = logging.getLogger("pass24.signing")

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
    """Keys seen recently, in the ``replay_cache`` table of the main database: refuses a key
    twice, whichever replica saw it first, and survives a restart.

    ``claim(key, value)`` stores the key with a value and an expiry, and returns the
    value already stored when the key was seen (so a caller can tell the same
    submission retried from another one). ``store``: the main database (PostgreSQL or the
    event store's SQLite file); a path opens an SQLite file, None an in-memory one."""

    PURGE_EVERY = 60.0

    def __init__(self, store: ReadStore | Path | None) -> None:
        if not isinstance(store, ReadStore):
            store = SQLiteReadStore(":memory:" if store is None else store)
        self.store = store
        self._purged = 0.0
        create_schema(store, (
            "CREATE TABLE IF NOT EXISTS replay_cache (key TEXT PRIMARY KEY, value TEXT NOT NULL,"
            f" expires {real_type(store.dialect)} NOT NULL)",))

    def claim(self, key: str, value: str, *, ttl: float, now: float | None = None) -> str | None:
        """None when ``key`` is new (now claimed); else the value it was claimed with."""
        at = now if now is not None else time.time()
        self._purge(at)
        with self.store.transaction() as cursor:
            # One statement, so two replicas claiming the same key at once cannot both win
            # (PostgreSQL makes the second wait for the first's commit). An expired key that
            # is still in the table is claimed afresh.
            cursor.execute("INSERT INTO replay_cache (key, value, expires) VALUES (?, ?, ?)"
                           " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                           " expires = excluded.expires WHERE replay_cache.expires < ?"
                           " RETURNING key", (key, value, at + ttl, at))
            if cursor.fetchone() is not None:
                return None
            cursor.execute("SELECT value FROM replay_cache WHERE key = ?", (key,))
            found = cursor.fetchone()
        return "" if found is None else str(found["value"])

    def _purge(self, at: float) -> None:
        """Forget expired keys now and then (housekeeping: a failure only delays it)."""
        if at - self._purged < self.PURGE_EVERY:
            return
        self._purged = at
        try:
            with self.store.transaction() as cursor:
                cursor.execute("DELETE FROM replay_cache WHERE expires < ?", (at,))
        except Exception:  # noqa: BLE001 - e.g. two replicas' purges in a deadlock
            log.warning("replay cache purge failed; the next one tries again", exc_info=True)

    def close(self) -> None:
        """The store belongs to whoever built it (the composition root closes it)."""


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
