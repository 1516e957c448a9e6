"""What every mailer that follows the event log shares (staff answers, registration notices).

A mailer reads the log from its position, turns the events it wants into
letters, and queues them with its new position in one transaction of the
outbox (the main database). Letters are keyed per event, so two mailers (two
replicas) or a mailer started afresh queue each letter once; the position only
moves forward. An event whose letter cannot be written (a header the email
library refuses…) is set aside after a few tries, under the mailer's name,
and the ticket's later letters wait behind it (``projections.parking``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from adapters.outbox.store import OutboundMail, Outbox
from projections.follower import Delivered, NotificationFollower
from projections.parking import PoisonGuard

log = logging.getLogger(__name__)


class LogMailer:
    """Subclasses name themselves (``name``) and say which events make which letter."""

    name = "mailer"

    def __init__(self, desk: Any, outbox: Outbox, *, now: Callable[[], float] = time.time,
                 guard: PoisonGuard | None = None,
                 follower: NotificationFollower | None = None) -> None:
        """``desk``: the application whose log is followed (the composition root's desk)."""
        self.desk = desk
        self.outbox = outbox
        self.follower = follower or NotificationFollower(desk)
        self.now = now
        self.guard = guard or PoisonGuard(None, self.name)
        self._retried_at = 0.0

    def wants(self, delivered: Delivered) -> bool:
        raise NotImplementedError

    def mail_for(self, delivered: Delivered) -> OutboundMail | None:
        raise NotImplementedError

    def run_once(self, limit: int = 200) -> int:
        """Queue the letters of the events since the last pass; answers how many events were read."""
        after = self.outbox.position(self.name)
        batch = self.follower.read(after, limit)
        if not batch:
            return 0
        mails = self.follower.handle_each(batch, self.mail_for, self.guard, self.wants)
        self.outbox.enqueue_tracked([m for m in mails if m is not None], follower=self.name,
                                    position=batch[-1].position, now=self.now())
        return len(batch)

    def retry_parked(self) -> int:
        """Queue the letters of events ``parked retry`` released, in order."""
        self._retried_at = time.monotonic()

        def queue(delivered: Delivered) -> None:
            mail = self.mail_for(delivered)
            if mail is not None:
                self.outbox.enqueue(mail, now=self.now())

        return self.follower.retry_parked(queue, self.guard)

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        backoff = interval
        while not stop.is_set():
            try:
                read = self.run_once()
                if not read and time.monotonic() - self._retried_at >= interval:
                    self.retry_parked()
                backoff = interval
            except Exception:
                log.exception("%s pass failed; retrying in %.1fs", self.name, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if not read:
                stop.wait(interval)
