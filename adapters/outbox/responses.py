"""Letters that follow the event log: the registration notice and staff answers, each once.

Every ``Received`` event, whatever the channel, queues the registration notice
(R18), or records on the ticket that none could be sent (no email address);
every staff answer queues a letter. The follower's position is stored in the
outbox's database in the same transaction as the queued letters, so a restart
neither skips nor repeats one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from adapters.outbox.notice_limit import NoticeLimit
from adapters.outbox.notices import Notices, ack_message_id, response_message_id
from adapters.outbox.store import OutboundMail, Outbox
from domain.errors import RuleViolated
from domain.ticket import Ticket
from domain.values import Actor, Channel
from projections.follower import NotificationFollower

log = logging.getLogger(__name__)
FOLLOWER = "response-mailer"
_ANSWERS = ("Ticket.Responded", "Ticket.InformationRequested")
SYSTEM = Actor.system("outbox")
NO_ADDRESS = "the requester gave no email address: tell them the ticket ID by phone or chat"


class MailingDesk(Protocol):
    """What the mailer needs of the desk (handed in by the composition root)."""

    def get_ticket(self, ticket_id: str, *, version: int | None = None) -> Ticket: ...

    def ticket_events(self, ticket_id: str) -> Any: ...

    def record_notice_not_sent(self, ticket_id: str, *, reason: str, actor: Actor,
                               at: datetime | None = None) -> Any: ...


class ResponseMailer:
    def __init__(self, desk: MailingDesk, outbox: Outbox, notices: Notices, *,
                 now: Callable[[], float] = time.time,
                 follower: NotificationFollower | None = None,
                 notice_limit: NoticeLimit | None = None) -> None:
        self.desk = desk
        self.outbox = outbox
        self.notices = notices
        self.notice_limit = notice_limit or NoticeLimit("")
        self.follower = follower or NotificationFollower(cast(Any, desk))
        self.now = now

    def run_once(self, limit: int = 200) -> int:
        """Queue the answers recorded since the last pass; answers how many events were read."""
        after = self.outbox.position(FOLLOWER)
        batch = self.follower.read(after, limit)
        if not batch:
            return 0
        mails: list[OutboundMail] = []
        for item in batch:
            name = type(item.event).__qualname__
            mail = None
            if name == "Ticket.Received":
                mail = self._notice_for(item.event)
            elif name in _ANSWERS and not _asked_at_receipt(item.event):
                mail = self._mail_for(item.event)
            if mail is not None:
                mails.append(mail)
        self.outbox.enqueue_tracked(mails, follower=FOLLOWER, position=batch[-1].position,
                                    now=self.now())
        return len(batch)

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            try:
                read = self.run_once()
            except Exception:
                log.exception("response mailer pass failed")
                read = 0
            if not read:
                stop.wait(interval)

    def _notice_for(self, event: Any) -> OutboundMail | None:
        """R18 for every channel: the notice, or a record that none could be sent and why."""
        ticket = self.desk.get_ticket(str(event.ticket_id))
        if ticket.acknowledged_at is not None:  # e.g. the agent told the caller on the phone
            return None
        mail = self.notices.acknowledgement(ticket, now=datetime.fromtimestamp(self.now(), UTC))
        reason = NO_ADDRESS
        if mail is not None and not self.notice_limit.allow(ticket.requester.email):
            # An auto-responder answering every notice with a new letter: the loop stops here.
            mail, reason = None, (f"{ticket.requester.email} got more than "
                                  f"{self.notice_limit.describe()} registration notices")
        if mail is None:
            try:
                self.desk.record_notice_not_sent(ticket.ticket_id, reason=reason, actor=SYSTEM)
            except RuleViolated as rule:  # acknowledged meanwhile (e.g. on the phone)
                if rule.rule != "already_acknowledged":
                    raise
        return mail

    def _mail_for(self, event: Any) -> OutboundMail | None:
        ticket_id = _ticket_id_of(self.follower, event)
        ticket = self.desk.get_ticket(ticket_id, version=event.originator_version)
        text = getattr(event, "text", "")
        links = list(getattr(event, "links", []) or [])
        if type(event).__qualname__ == "Ticket.InformationRequested":
            return self.notices.information_request(
                ticket, version=event.originator_version, text=text,
                items=list(getattr(event, "items", []) or []),
                thread=self._thread(ticket_id, event), now=event.at)
        return self.notices.response(ticket, version=event.originator_version, text=text,
                                     links=links, thread=self._thread(ticket_id, event),
                                     now=event.at)

    def _thread(self, ticket_id: str, upto: Any) -> list[str]:
        """Message-IDs of the conversation so far, oldest first (for References)."""
        domain = self.notices.settings.message_id_domain
        thread: list[str] = []
        for event in self.desk.ticket_events(ticket_id):
            if event.originator_version >= upto.originator_version:
                break
            name = type(event).__qualname__
            if name == "Ticket.Received":
                key = getattr(event, "intake_key", "")
                if getattr(event, "channel", "") == Channel.EMAIL.value and key.startswith("<"):
                    thread.append(key)
            elif name == "Ticket.Acknowledged":
                thread.append(getattr(event, "message_id", "") or ack_message_id(ticket_id, domain))
            elif name == "Ticket.RequesterReplied":
                key = getattr(event, "message_id", "")
                if key.startswith("<"):
                    thread.append(key)
            elif name in _ANSWERS:
                thread.append(response_message_id(ticket_id, event.originator_version, domain))
        return [mid for mid in thread if mid.startswith("<")]


def _asked_at_receipt(event: Any) -> bool:
    """The desk's own request for missing details, saved with ``Received``: the registration
    notice already lists what is missing, so it is not mailed a second time."""
    actor = getattr(event, "actor", {}) or {}
    return (type(event).__qualname__ == "Ticket.InformationRequested"
            and actor.get("kind") == "system" and event.originator_version == 2)


def _ticket_id_of(follower: NotificationFollower, event: Any) -> str:
    ticket: Any = follower.app.repository.get(event.originator_id, version=1)
    return str(ticket.ticket_id)
