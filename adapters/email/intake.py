"""One letter in, one outcome out: the email channel's translator into the intake gate.

Every source (SMTP listener, IMAP poller) hands raw bytes to ``EmailIntake.deliver``.
The letter becomes an ``IntakeRequest`` (its Message-ID is the intake key, its
In-Reply-To/References the threading hints, its Cc the contacts); the gate decides.
Only what is particular to mail stays here: bounces of our own notices, and the
quarantine for what cannot be handled. ``deliver`` never raises while the
quarantine can keep the letter: each step of the gate is idempotent by Message-ID,
so a letter delivered again (or retried from the quarantine) completes what is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from adapters.email.message import Letter, UnreadableLetter, parse_letter
from adapters.email.noise import Bounce, auto_reply_reason, bounce_of
from adapters.email.quarantine import Quarantine
from adapters.outbox.store import Outbox, OutboxEntry
from domain.errors import DeskError
from domain.intake import Decision, IncomingFile, IntakeOutcome, IntakeRequest
from domain.values import Actor, Channel

log = logging.getLogger(__name__)

Gate = Callable[[IntakeRequest], IntakeOutcome]


class Outcome(StrEnum):
    CREATED = "created"
    DUPLICATE = "duplicate"
    REPLIED = "replied"
    REOPENED = "reopened"
    LINKED = "linked_new_ticket"
    THIRD_PARTY = "third_party"
    AUTO_REPLY = "ignored_auto_reply"
    BOUNCE = "bounce_recorded"
    QUARANTINED = "quarantined"


_OUTCOMES = {
    Decision.CREATED: Outcome.CREATED,
    Decision.DUPLICATE: Outcome.DUPLICATE,
    Decision.REPLIED: Outcome.REPLIED,
    Decision.REOPENED: Outcome.REOPENED,
    Decision.LINKED: Outcome.LINKED,
    Decision.THIRD_PARTY: Outcome.THIRD_PARTY,
    Decision.IGNORED: Outcome.AUTO_REPLY,
}


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    ticket_id: str | None = None
    detail: str = ""


class BounceSink(Protocol):
    """Records that a message the desk sent did not arrive (the outbox worker)."""

    def bounced(self, entry: OutboxEntry, reason: str) -> None: ...


class EmailIntake:
    def __init__(
        self,
        gate: Gate,
        *,
        quarantine: Quarantine,
        outbox: Outbox,
        bounces: BounceSink | None = None,
        max_letter_bytes: int = 30 * 1024 * 1024,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.gate = gate
        self.quarantine = quarantine
        self.outbox = outbox
        self.bounces = bounces
        self.max_letter_bytes = max_letter_bytes
        self.now = now

    def deliver(self, raw: bytes, *, source: str = "smtp") -> Delivery:
        """Take a letter. Never raises while the quarantine works: what cannot be handled
        is quarantined with its bytes and the reason."""
        try:
            return self._deliver(raw, source)
        except Exception as error:  # noqa: BLE001 - the letter is kept, the sender is not failed
            log.exception("letter from %s could not be handled", source)
            return self._quarantine(raw, f"could not be handled: {type(error).__name__}: {error}",
                                    source)

    def retry(self, entry_id: int) -> Delivery:
        """Hand a quarantined letter to the desk again (after a fix); released when it goes in."""
        letter = self.quarantine.get(entry_id)
        if letter is None:
            raise LookupError(f"no quarantined letter #{entry_id}")
        delivery = self._deliver(letter.raw, f"retry:{letter.source}")
        if delivery.outcome is not Outcome.QUARANTINED:
            self.quarantine.release(entry_id)
        return delivery

    def _deliver(self, raw: bytes, source: str) -> Delivery:
        if len(raw) > self.max_letter_bytes:
            return self._quarantine(raw, f"letter larger than {self.max_letter_bytes} bytes", source)
        try:
            letter = parse_letter(raw)
        except UnreadableLetter as unreadable:
            return self._quarantine(raw, unreadable.reason, source)
        bounce = bounce_of(letter.message)
        if bounce is not None:
            return self._bounce(raw, letter, source, bounce)
        if not letter.sender_email:
            # The parser lets a mail system's report through without an address; one that is
            # not a bounce after all has nobody to answer.
            return self._quarantine(raw, "no sender address (From): "
                                    + "; ".join(letter.sender_notes), source)
        outcome = self.gate(request_of(letter))
        if outcome.decision in (Decision.REFUSED, Decision.INVALID):
            return self._quarantine(raw, f"not accepted by the desk: {outcome.detail}", source)
        return Delivery(_OUTCOMES[outcome.decision], outcome.ticket_id, outcome.detail)

    def _bounce(self, raw: bytes, letter: Letter, source: str, bounce: Bounce) -> Delivery:
        if not bounce.permanent:
            return Delivery(Outcome.AUTO_REPLY, detail=f"delay notice {bounce.status}")
        for original in bounce.original_ids:
            entry = self.outbox.by_message_id(original)
            if entry is None:
                continue
            reason = " ".join(filter(None, (bounce.status, bounce.diagnostic))) or "bounced"
            if self.bounces is None:
                raise RuntimeError("bounces need the outbox worker")
            try:
                self.bounces.bounced(entry, reason)
            except DeskError as error:
                return self._quarantine(raw, f"bounce could not be recorded: {error}", source)
            return Delivery(Outcome.BOUNCE, entry.ticket_id, detail=reason)
        # Not ours (or the copy of ours was cut off): nothing to fall back on, but it is a
        # bounce, not an unreadable letter, so it is recorded as one instead of quarantined.
        detail = (f"bounce for a message the desk did not send ({bounce.read_as}): "
                  f"{', '.join(bounce.recipients) or 'recipient unknown'} {bounce.status}").strip()
        log.info("unmatched bounce %s: %s", letter.message_id, detail)
        return Delivery(Outcome.BOUNCE, detail=detail)

    def _quarantine(self, raw: bytes, reason: str, source: str) -> Delivery:
        entry = self.quarantine.put(raw, reason=reason, source=source, at=self.now())
        log.warning("quarantined letter #%d from %s: %s", entry, source, reason)
        return Delivery(Outcome.QUARANTINED, detail=f"#{entry}: {reason}")


def request_of(letter: Letter) -> IntakeRequest:
    """The letter as the gate's channel-neutral request."""
    return IntakeRequest(
        channel=Channel.EMAIL,
        intake_key=letter.message_id,
        actor=Actor.requester(letter.sender_email),
        name=letter.sender_name,
        email=letter.sender_email,
        subject=letter.subject,
        text=letter.text,
        reply_text=letter.new_text if letter.new_text != letter.text else "",
        attachments=tuple(IncomingFile(f.filename, f.content_type, f.content)
                          for f in letter.attachments),
        contacts=letter.cc,
        thread_hints=letter.thread_ids,
        noise=auto_reply_reason(letter.message, letter.sender_email) or "",
    )
