"""How many registration notices one address may get: an auto-responder cannot loop.

A mailbox that answers every letter without auto-reply headers and without our
ticket ID in the subject opens a new ticket with every answer; each new ticket
sends a notice, which it answers again. The tickets are recorded (nothing is
lost), but past the limit no notice is queued, so the loop stops at the first
refusal (the ticket records why it got no notice). Moving windows from ``limits``
(``"3/hour;10/day"``). The mailers count in the outbox (``windows``, see
``Outbox.queue_notice``), so N mailer replicas share one count; ``allow`` counts
in ``PASS24_RATE_LIMIT_STORAGE`` (per process with the default ``memory://``).
"""

from __future__ import annotations

import logging

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)


class NoticeLimit:
    def __init__(self, limits: str = "3/hour;10/day", *, storage: str = "memory://") -> None:
        self.items: list[RateLimitItem] = parse_many(limits) if limits.strip() else []
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage))

    def describe(self) -> str:
        return " or ".join(str(item) for item in self.items) or "no limit"

    def windows(self) -> list[tuple[float, int]]:
        """Each limit as (window in seconds, notices allowed in it)."""
        return [(float(item.get_expiry()), int(item.amount)) for item in self.items]

    def allow(self, address: str) -> bool:
        """Count one notice to ``address``; False (nothing counted) when a window is full."""
        key = address.strip().lower()
        if not all(self._limiter.test(item, "notice", key) for item in self.items):
            log.warning("registration notice to %s not queued: more than %s", key,
                        self.describe())
            return False
        for item in self.items:
            self._limiter.hit(item, "notice", key)
        return True
