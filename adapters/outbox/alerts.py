"""Staff are told when an SLA clock goes at risk or breaches, and when a letter to a
requester did not arrive (R21 fallback).

A follower of the event log, like the response mailer: the watcher records
``SlaAtRisk`` / ``SlaBreached`` once per clock cycle (the aggregate refuses a
second one), and this follower turns each into one letter per recipient — the
assignee, or the supervisors while nobody is assigned — queued in the outbox in
the same transaction as the follower's position, so a restart neither skips
nor repeats one. ``DeliveryFailed`` becomes the delivery-failure letter.

An optional webhook (chat systems) gets the same alerts as JSON signed with
HMAC-SHA256 (``X-Pass24-Signature: sha256=…``, as our own inbound webhooks). It
has its own position and its own poison guard (worker ``staff-alerts-webhook``,
projections.parking): an alert the webhook refuses is tried again on the next
passes and, after the bounded tries, set aside (``pass24-desk parked list``,
retryable) with that ticket's later alerts held behind it, so it never holds the
letters back nor the other tickets' alerts.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from adapters.outbox.notices import Notices, moscow
from adapters.outbox.store import OutboundMail, Outbox
from adapters.signing import SIGNATURE_HEADER, sign
from projections.follower import Delivered, NotificationFollower
from projections.parking import PoisonGuard

log = logging.getLogger("pass24.alerts")
FOLLOWER = "staff-alerts"
WEBHOOK_FOLLOWER = "staff-alerts-webhook"
_ALERTS = ("Ticket.SlaAtRisk", "Ticket.SlaBreached")
_FAILURES = ("Ticket.DeliveryFailed",)


@dataclass(frozen=True)
class AlertSettings:
    supervisors: Sequence[str] = ()
    """Addresses told while a ticket has no assignee (and of every delivery failure then)."""
    staff_addresses: dict[str, str] = field(default_factory=dict)
    """Assignee name → address; names not listed get ``name@staff_domain``."""
    staff_domain: str = ""
    webhook_url: str = ""
    webhook_secret: str = ""

    def recipients(self, assignee: str | None) -> list[str]:
        if not assignee:
            return list(self.supervisors)
        if assignee in self.staff_addresses:
            return [self.staff_addresses[assignee]]
        lowered = {k.lower(): v for k, v in self.staff_addresses.items()}
        if assignee.lower() in lowered:
            return [lowered[assignee.lower()]]
        if "@" in assignee:
            return [assignee]
        if self.staff_domain:
            return [f"{assignee}@{self.staff_domain}"]
        return list(self.supervisors)  # nobody to reach by name: the supervisors are told


def parse_addresses(text: str) -> dict[str, str]:
    """``agent.kim=kim@example.ru, agent.lee=lee@example.ru`` → a mapping."""
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {name.strip(): address.strip() for name, address in pairs if name.strip() and address.strip()}


class StaffAlerter:
    name = "staff-alerts"

    def __init__(self, desk: Any, outbox: Outbox, notices: Notices, settings: AlertSettings, *,
                 now: Callable[[], float] = time.time,
                 post: Callable[[str, bytes, dict[str, str]], int] | None = None,
                 guard: PoisonGuard | None = None) -> None:
        # Poison isolation (projections.parking): one alert whose letters cannot be written
        # is set aside under "staff-alerts"; its ticket's later ones wait, others go out.
        self.guard = guard or PoisonGuard(None, "staff-alerts")
        self.webhook_guard = PoisonGuard(self.guard.lot, WEBHOOK_FOLLOWER, tries=self.guard.tries)
        self._retried_at = 0.0
        self.desk = desk
        self.outbox = outbox
        self.notices = notices
        self.settings = settings
        self.follower = NotificationFollower(desk)
        self.now = now
        self.post = post or _post

    # -- letters -------------------------------------------------------------------------

    def run_once(self, limit: int = 200) -> int:
        """Queue the letters for alerts recorded since the last pass; answers events read."""
        read = self._mail_pass(limit)
        if self.settings.webhook_url:
            try:
                self._webhook_pass(limit)
            except Exception:  # noqa: BLE001 - counted by the guard; tried again next pass
                log.warning("alert webhook pass stopped; the next pass tries again", exc_info=True)
        return read

    def _mail_pass(self, limit: int) -> int:
        batch = self.follower.read(self.outbox.position(FOLLOWER), limit)
        if not batch:
            return 0
        letters = self.follower.handle_each(batch, self._letters_of, self.guard, _wanted)
        mails: list[OutboundMail] = [mail for some in letters for mail in some]
        self.outbox.enqueue_tracked(mails, follower=FOLLOWER, position=batch[-1].position,
                                    now=self.now())
        return len(batch)

    def _letters_of(self, delivered: Delivered) -> list[OutboundMail]:
        return self._letters(delivered.event, type(delivered.event).__qualname__)

    def retry_parked(self) -> int:
        """Queue the letters of alerts ``parked retry`` released, in order."""
        self._retried_at = time.monotonic()

        def queue(delivered: Delivered) -> None:
            for mail in self._letters_of(delivered):
                self.outbox.enqueue(mail, now=self.now())

        return self.follower.retry_parked(queue, self.guard)

    def _letters(self, event: Any, name: str) -> list[OutboundMail]:
        ticket = self._ticket(event)
        recipients = self.settings.recipients(ticket.assignee)
        if not recipients:
            log.warning("no one to tell about %s of %s: set PASS24_ALERT_SUPERVISORS", name,
                        ticket.ticket_id)
            return []
        if name in _FAILURES:
            failure = {k: getattr(event, k, "") for k in
                       ("notice", "recipient", "reason", "permanent", "message_id", "fallback")}
            return self.notices.delivery_failure(ticket, version=event.originator_version,
                                                 failure=failure, recipients=recipients, now=event.at)
        return self.notices.staff_alert(ticket, version=event.originator_version, clock=event.clock,
                                        breached=name.endswith("Breached"), due_at=event.due_at,
                                        at=event.at, recipients=recipients)

    def _ticket(self, event: Any) -> Any:
        first: Any = self.desk.repository.get(event.originator_id, version=1)
        return self.desk.get_ticket(str(first.ticket_id), version=event.originator_version)

    # -- the webhook ---------------------------------------------------------------------

    def payload(self, event: Any, name: str) -> dict[str, Any]:
        ticket = self._ticket(event)
        return {
            "kind": "sla_breached" if name.endswith("Breached") else "sla_at_risk",
            "ticket_id": ticket.ticket_id,
            "clock": event.clock,
            "due_at": event.due_at.isoformat(),
            "at": event.at.isoformat(),
            "key": event.key,
            "subject": ticket.subject,
            "level": ticket.level.value if ticket.level else None,
            "assignee": ticket.assignee,
            "text": self.notices.render("staff_alert", ticket, alert={
                "clock": event.clock, "clock_name": event.clock, "breached": name.endswith("Breached"),
                "due_at": moscow(event.due_at), "at": moscow(event.at)}, ticket_url="").subject,
        }

    def _webhook_pass(self, limit: int) -> None:
        position = self.outbox.position(WEBHOOK_FOLLOWER)
        for item in self.follower.read(position, limit):
            # One event at a time, its position stored after it: a failure with tries left
            # ends the pass (raised) without posting the alerts before it again.
            self.follower.handle_each([item], self._post_alert, self.webhook_guard, _alert)
            self.outbox.enqueue_tracked([], follower=WEBHOOK_FOLLOWER, position=item.position,
                                        now=self.now())

    def _post_alert(self, delivered: Delivered) -> None:
        event = delivered.event
        name = type(event).__qualname__
        body = json.dumps(self.payload(event, name), ensure_ascii=False, sort_keys=True).encode()
        headers = {"Content-Type": "application/json",
                   "Idempotency-Key": str(getattr(event, "key", delivered.position))}
        if self.settings.webhook_secret:
            headers[SIGNATURE_HEADER] = sign(self.settings.webhook_secret, body)
        status = self.post(self.settings.webhook_url, body, headers)
        if not 200 <= status < 300:
            raise WebhookRefused(f"the alert webhook answered HTTP {status}")

    def retry_webhook_parked(self) -> int:
        """Post the alerts ``parked retry`` released, in order."""
        return self.follower.retry_parked(self._post_alert, self.webhook_guard)

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            try:
                read = self.run_once()
                if not read and time.monotonic() - self._retried_at >= interval:
                    self.retry_parked()
                    if self.settings.webhook_url:
                        self.retry_webhook_parked()
            except Exception:
                log.exception("staff alert pass failed")
                read = 0
            if not read:
                stop.wait(interval)


class WebhookRefused(Exception):
    """The alert webhook answered, but not with a 2xx."""


def _alert(delivered: Delivered) -> bool:
    return type(delivered.event).__qualname__ in _ALERTS


def _wanted(delivered: Delivered) -> bool:
    name = type(delivered.event).__qualname__
    return name in _ALERTS or name in _FAILURES


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    response = httpx.post(url, content=body, headers=headers, timeout=10)
    return response.status_code
