"""Sends what the outbox holds, with backoff, and records the outcome on the ticket.

``Acknowledged`` (R18) is recorded only after the SMTP server accepted the
registration notice; a permanent failure (5xx, a bounce, or too many
attempts) records ``DeliveryFailed`` with the R21 fallback instead.

Several workers can share one outbox: each claims its letters first (see
``store.Outbox.claim``). A letter that fails for any other reason than SMTP or
the database (a header the email library refuses, a bug met by one letter) is
set aside after a few tries (worker ``outbox``, see ``projections.parking``);
its ticket's later letters wait behind it, every other ticket's go out.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from adapters.outbox.smtp_sender import DeliveryError, SmtpSender
from adapters.outbox.store import Outbox, OutboxEntry
from domain.errors import RuleViolated, TicketNotFound
from domain.values import Actor, Channel
from projections.parking import Item, Parked, PoisonGuard, is_transient

# Letters to staff (alerts, fallbacks) that fail are logged, not recorded on the ticket as R21.
REQUESTER_NOTICES = ("acknowledgement", "response")
log = logging.getLogger(__name__)
SYSTEM = Actor.system("outbox")
WORKER = "outbox"


class OutcomeDesk(Protocol):
    """Where the worker records what became of a letter (handed in by the composition root)."""

    def get_ticket(self, ticket_id: str) -> Any: ...

    def acknowledge(self, ticket_id: str, *, actor: Actor, message_id: str = "",
                    at: datetime | None = None) -> Any: ...

    def record_delivery_failure(self, ticket_id: str, *, notice: str, recipient: str, reason: str,
                                permanent: bool, message_id: str, fallback: Sequence[Channel],
                                actor: Actor, at: datetime | None = None) -> Any: ...


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 30.0
    max_seconds: float = 3600.0
    max_attempts: int = 8

    def delay(self, attempts: int, rng: random.Random) -> float:
        """Exponential backoff with full jitter in its upper half."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(attempts - 1, 0))
        return float(ceiling / 2 + rng.random() * ceiling / 2)


class OutboxWorker:
    def __init__(
        self,
        outbox: Outbox,
        sender: SmtpSender,
        desk: OutcomeDesk,
        *,
        retry: RetryPolicy | None = None,
        fallback: Sequence[Channel] = (Channel.CHATBOT, Channel.PHONE),
        now: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        guard: PoisonGuard | None = None,
        lease_seconds: float = 300.0,
        name: str | None = None,
    ) -> None:
        self.outbox = outbox
        self.sender = sender
        self.desk = desk
        self.retry = retry or RetryPolicy()
        self.fallback = tuple(fallback)
        self.now = now
        self.rng = rng or random.Random()
        self.guard = guard or PoisonGuard(None, WORKER)
        self.lease_seconds = lease_seconds
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        # The last retryable failure logged at INFO: while the SMTP server stays down (or
        # none is configured, as in development) the same reason is not repeated every pass.
        self._last_reason: str | None = None

    def run_once(self, limit: int = 50) -> int:
        """Claim the due letters and try each once; answers how many were handled."""
        self.struggling = False
        self.guard.retry_pass(self._release)
        entries = self.outbox.claim(worker=self.name, now=self.now(), lease=self.lease_seconds,
                                    limit=limit, hold=self.guard.active())
        blocked: set[str] = set()
        for entry in entries:
            if entry.ticket_id in blocked:  # keep the ticket's letters in order
                self.outbox.unclaim(entry.id)
                continue
            try:
                if entry.status == "pending":
                    self._send(entry)
                else:
                    self._record(entry)
            except Exception as error:
                item = Item(entry.id, entry.key, entry.ticket_id)
                reason = f"{type(error).__name__}: {error}"
                blocked.add(entry.ticket_id)
                if self.guard.failed(item, error):
                    self.outbox.mark_parked(entry.id, error=reason)
                    continue
                # Give the claim back: tried again at a later pass (by any worker).
                log.warning("outbox %s failed: %s", entry.key, reason)
                self.outbox.mark_retry(entry.id, error=reason, next_attempt_at=self.now() + (
                    5.0 if is_transient(error) else 0.5))
                self.struggling = True
            else:
                self.guard.succeeded(Item(entry.id, entry.key, entry.ticket_id))
        return len(entries)

    def _release(self, row: Parked) -> None:
        """``parked retry`` of a letter: back to the queue, sent (or recorded) by the next claim."""
        self.outbox.release(row.position, now=self.now())

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            try:
                handled = self.run_once()
            except Exception:  # keep the worker alive; the entry stays due
                log.exception("outbox pass failed")
                handled = 0
            if not handled or self.struggling:
                stop.wait(interval)

    struggling = False

    def _send(self, entry: OutboxEntry) -> None:
        if entry.kind == "acknowledgement" and self._notice_refused(entry.ticket_id):
            # The ticket says no notice was sent (queued before the mailers shared one
            # decision): sending it now would contradict its history.
            log.warning("outbox %s withheld: the ticket records that no notice was sent",
                        entry.key)
            self.outbox.mark_withheld(entry.id)
            return
        try:
            self.sender.send(entry.message, entry.recipient)
        except DeliveryError as error:
            attempts = entry.attempts + 1
            if error.permanent or attempts >= self.retry.max_attempts:
                reason = error.reason if error.permanent else (
                    f"gave up after {attempts} attempts: {error.reason}")
                log.warning("outbox %s to %s failed for good: %s", entry.key, entry.recipient, reason)
                self.outbox.mark_failed(entry.id, error=reason, now=self.now())
            else:
                delay = self.retry.delay(attempts, self.rng)
                if error.reason != self._last_reason:
                    log.info("outbox %s: %s; retry in %.0fs (same failures of other messages "
                             "are logged at DEBUG until it changes; `pass24-desk outbox list` "
                             "shows every message)", entry.key, error.reason, delay)
                    self._last_reason = error.reason
                else:
                    log.debug("outbox %s: %s; retry in %.0fs", entry.key, error.reason, delay)
                self.outbox.mark_retry(entry.id, error=error.reason,
                                       next_attempt_at=self.now() + delay)
                return
        else:
            self._last_reason = None
            self.outbox.mark_sent(entry.id, now=self.now())
        fresh = self.outbox.get(entry.key)
        if fresh is not None:
            self._record(fresh)

    def _notice_refused(self, ticket_id: str) -> bool:
        try:
            ticket = self.desk.get_ticket(ticket_id)
        except TicketNotFound:
            return False
        return getattr(ticket, "notice_not_sent", None) is not None

    def _record(self, entry: OutboxEntry) -> None:
        """Put the outcome into the ticket's history, once."""
        try:
            if entry.status == "sent" and entry.kind == "acknowledgement":
                self.desk.acknowledge(entry.ticket_id, actor=SYSTEM, message_id=entry.message_id)
            elif entry.status == "failed" and entry.kind in REQUESTER_NOTICES:
                self.record_failure(entry, entry.last_error)
        except RuleViolated as violation:
            if violation.rule != "already_acknowledged":
                raise
        except TicketNotFound:
            log.error("outbox %s names no ticket %s", entry.key, entry.ticket_id)
        self.outbox.mark_recorded(entry.id)

    def record_failure(self, entry: OutboxEntry, reason: str) -> None:
        self.desk.record_delivery_failure(
            entry.ticket_id, notice=entry.kind, recipient=entry.recipient, reason=reason,
            permanent=True, message_id=entry.message_id, fallback=self.fallback, actor=SYSTEM,
        )

    def bounced(self, entry: OutboxEntry, reason: str) -> None:
        """A bounce arrived for a message the server had accepted: the notice did not arrive."""
        self.outbox.mark_failed(entry.id, error=f"bounced: {reason}", now=self.now(),
                                counts_attempt=False)
        fresh = self.outbox.get(entry.key)
        if fresh is not None:
            self._record(fresh)
