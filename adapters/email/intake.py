"""One letter in, one outcome out: a new ticket, a reply on a ticket, a bounce, or quarantine.

Every source (SMTP listener, IMAP poller) hands raw bytes to ``EmailIntake.deliver``.
Each step is idempotent by the letter's Message-ID, so a letter delivered again,
e.g. after a crash between steps, completes what is missing and duplicates nothing.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from adapters.email.attachments import AttachmentStore
from adapters.email.details import extract_details
from adapters.email.message import Letter, UnreadableLetter, parse_letter
from adapters.email.noise import Bounce, auto_reply_reason, bounce_of
from adapters.email.quarantine import Quarantine
from adapters.outbox.notice_limit import NoticeLimit
from adapters.outbox.notices import Notices
from adapters.outbox.store import Outbox
from adapters.outbox.worker import OutboxWorker
from domain.errors import DeskError, InvalidValue, RuleViolated, TicketNotFound
from domain.ids import find_ticket_ids
from domain.ticket import Ticket
from domain.values import Actor, Channel, Requester, Status
from services.application import SupportDesk

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    CREATED = "created"
    DUPLICATE = "duplicate"
    REPLIED = "replied"
    REOPENED = "reopened"
    LINKED = "linked_new_ticket"
    AUTO_REPLY = "ignored_auto_reply"
    BOUNCE = "bounce_recorded"
    QUARANTINED = "quarantined"


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    ticket_id: str | None = None
    detail: str = ""


class EmailIntake:
    def __init__(
        self,
        desk: SupportDesk,
        *,
        quarantine: Quarantine,
        attachments: AttachmentStore,
        outbox: Outbox,
        notices: Notices,
        worker: OutboxWorker | None = None,
        reply_to_closed: str = "reopen",
        max_letter_bytes: int = 30 * 1024 * 1024,
        now: Callable[[], float] = time.time,
        notice_limit: NoticeLimit | None = None,
        max_attachments: int = 20,
    ) -> None:
        if reply_to_closed not in ("reopen", "new_ticket"):
            raise ValueError("reply_to_closed must be 'reopen' or 'new_ticket'")
        self.desk = desk
        self.quarantine = quarantine
        self.attachments = attachments
        self.outbox = outbox
        self.notices = notices
        self.worker = worker
        self.reply_to_closed = reply_to_closed
        self.max_letter_bytes = max_letter_bytes
        self.now = now
        self.notice_limit = notice_limit or NoticeLimit("")
        self.max_attachments = max_attachments

    def deliver(self, raw: bytes, *, source: str = "smtp") -> Delivery:
        """Take a letter. Never raises for bad input: what cannot be used is quarantined."""
        if len(raw) > self.max_letter_bytes:
            return self._quarantine(raw, f"letter larger than {self.max_letter_bytes} bytes", source)
        try:
            letter = parse_letter(raw)
        except UnreadableLetter as unreadable:
            return self._quarantine(raw, unreadable.reason, source)
        bounce = bounce_of(letter.message)
        if bounce is not None:
            return self._bounce(raw, letter, source, bounce)
        reason = auto_reply_reason(letter.message, letter.sender_email)
        if reason is not None:
            log.info("ignored auto-reply %s from %s: %s", letter.message_id, letter.sender_email,
                     reason)
            return Delivery(Outcome.AUTO_REPLY, detail=reason)
        try:
            return self._request(letter)
        except (InvalidValue, RuleViolated) as error:
            return self._quarantine(raw, f"not accepted by the desk: {error}", source)

    # -- requests and replies -------------------------------------------------

    def _request(self, letter: Letter) -> Delivery:
        ticket = self._thread_target(letter)
        actor = Actor.requester(letter.sender_email)
        text = letter.text or letter.subject
        details = extract_details(letter.subject, letter.text)
        if ticket is not None:
            closed = ticket.status is Status.CLOSED
            if closed and self.reply_to_closed == "new_ticket":
                return self._new_ticket(letter, linked_to=ticket.ticket_id)
            receipt = self.desk.record_reply_once(
                ticket.ticket_id, channel=Channel.EMAIL, intake_key=letter.message_id,
                text=text, actor=actor, product_version=details.product_version,
                device=details.device,
                reopen_reason="" if ticket.is_open else f"the requester wrote again ({letter.message_id})",
            )
            self._attach(receipt.ticket_id, letter, actor)
            if not receipt.created:
                return Delivery(Outcome.DUPLICATE, receipt.ticket_id)
            return Delivery(Outcome.REPLIED if ticket.is_open else Outcome.REOPENED,
                            receipt.ticket_id)
        return self._new_ticket(letter)

    def _new_ticket(self, letter: Letter, *, linked_to: str = "") -> Delivery:
        actor = Actor.requester(letter.sender_email)
        details = extract_details(letter.subject, letter.text)
        description = letter.text
        if linked_to:
            description = f"Follow-up to {linked_to} (closed).\n\n{description}"
        receipt = self.desk.receive(
            channel=Channel.EMAIL,
            requester=Requester(name=letter.sender_name[:200], email=letter.sender_email),
            subject=letter.subject[:500],
            description=description,
            actor=actor,
            product=details.product,
            product_version=details.product_version,
            device=details.device,
            intake_key=letter.message_id,
        )
        self._attach(receipt.ticket_id, letter, actor)
        self._acknowledge(receipt.ticket_id)
        if not receipt.created:
            return Delivery(Outcome.DUPLICATE, receipt.ticket_id)
        return Delivery(Outcome.LINKED if linked_to else Outcome.CREATED, receipt.ticket_id,
                        detail=f"linked to {linked_to}" if linked_to else "")

    def _thread_target(self, letter: Letter) -> Ticket | None:
        """R19: the ticket named in the subject, or the one our earlier letter belonged to."""
        candidates = find_ticket_ids(letter.subject)
        for message_id in letter.thread_ids:
            candidates += find_ticket_ids(message_id)
        for ticket_id in dict.fromkeys(candidates):
            try:
                return self.desk.get_ticket(ticket_id)
            except (TicketNotFound, InvalidValue):
                continue
        return None

    def _attach(self, ticket_id: str, letter: Letter, actor: Actor) -> None:
        if not letter.attachments:
            return
        kept = letter.attachments[:self.max_attachments]
        metadata = [self.attachments.store(file) for file in kept]
        # Past the cap, files are listed (staff see what came) but not stored.
        for file in letter.attachments[self.max_attachments:]:
            metadata.append({"filename": file.filename, "content_type": file.content_type,
                             "size": len(file.content),
                             "sha256": hashlib.sha256(file.content).hexdigest(), "stored": False,
                             "note": f"not stored: more than {self.max_attachments} "
                                     "attachments in one letter"})
        self.desk.add_attachments(ticket_id, source=letter.message_id, attachments=metadata,
                                  actor=actor)

    def _acknowledge(self, ticket_id: str) -> None:
        """Queue the registration notice (once per ticket); the outbox worker sends it."""
        ticket = self.desk.get_ticket(ticket_id)
        if ticket.acknowledged_at is not None:
            return
        mail = self.notices.acknowledgement(ticket, now=self.desk.clock.now())
        if mail is not None and self.notice_limit.allow(ticket.requester.email):
            self.outbox.enqueue(mail, now=self.now())

    # -- noise -------------------------------------------------------------------

    def _bounce(self, raw: bytes, letter: Letter, source: str, bounce: Bounce) -> Delivery:
        if not bounce.permanent:
            return Delivery(Outcome.AUTO_REPLY, detail=f"delay notice {bounce.status}")
        for original in bounce.original_ids:
            entry = self.outbox.by_message_id(original)
            if entry is None:
                continue
            reason = " ".join(filter(None, (bounce.status, bounce.diagnostic))) or "bounced"
            if self.worker is None:
                raise RuntimeError("bounces need the outbox worker")
            try:
                self.worker.bounced(entry, reason)
            except DeskError as error:
                return self._quarantine(raw, f"bounce could not be recorded: {error}", source)
            return Delivery(Outcome.BOUNCE, entry.ticket_id, detail=reason)
        return self._quarantine(raw, "bounce for a message the desk did not send", source)

    def _quarantine(self, raw: bytes, reason: str, source: str) -> Delivery:
        entry = self.quarantine.put(raw, reason=reason, source=source, at=self.desk.clock.now())
        log.warning("quarantined letter #%d from %s: %s", entry, source, reason)
        return Delivery(Outcome.QUARANTINED, detail=f"#{entry}: {reason}")
