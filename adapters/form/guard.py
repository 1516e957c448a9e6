"""Abuse limits of the public form: single-use page tokens and rate limits.

- A token from the form page is good for **one submission**: the first post
  binds it to that submission's key, and a second post with the same token is
  accepted only as a retry of the same submission (idempotent; same ticket).
- Submissions are rate-limited per client address (posts carrying a page token
  come from browsers; signed webhooks come from one server and are exempt) and
  per requester address (email or phone; a third party's mailbox cannot be
  flooded with tickets and notices). Moving windows from ``limits``.
"""

from __future__ import annotations

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from adapters.signing import ReplayCache

TOKEN_LIFETIME = 24 * 3600


def _items(text: str) -> list[RateLimitItem]:
    return parse_many(text) if text.strip() else []


class FormGuard:
    def __init__(self, replays: ReplayCache, *, per_client: str, per_address: str,
                 storage: str = "memory://") -> None:
        self.replays = replays
        self.per_client = _items(per_client)
        self.per_address = _items(per_address)
        # ``memory://`` counts per process; a shared store (``redis://…``) counts per desk.
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage))

    def token_reused(self, token: str, submission: str) -> bool:
        """True when ``token`` already served another submission; else binds it to this one."""
        earlier = self.replays.claim(f"form-token:{token}", submission, ttl=TOKEN_LIFETIME + 3600)
        return earlier is not None and earlier != submission

    def over_limit(self, scope: str, key: str) -> str | None:
        """Count one submission for ``key`` in ``scope`` (client or address); the limit passed, if any."""
        items = self.per_client if scope == "client" else self.per_address
        key = key.strip().lower()
        for item in items:
            if not self._limiter.test(item, "form", scope, key):
                return str(item)
        for item in items:
            self._limiter.hit(item, "form", scope, key)
        return None
