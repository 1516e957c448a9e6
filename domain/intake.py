"""Idempotent intake: one ticket per intake key (an email Message-ID, a call ID…)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.ids import intake_uuid
from domain.values import Actor, Channel, Product


class IntakeRecord(Aggregate):
    """Claims an intake key for a ticket.

    Saved in the same transaction as the ticket it names; the store's unique
    (id, version) makes the second delivery of the same key fail to save, and
    the application answers with the ticket the first one created.
    """

    channel: str
    intake_key: str
    ticket_id: str

    @staticmethod
    def create_id(channel: str, intake_key: str) -> UUID:
        return intake_uuid(channel, intake_key)

    @event("Registered")
    def __init__(self, *, channel: str, intake_key: str, ticket_id: str) -> None:
        self.channel = channel
        self.intake_key = intake_key
        self.ticket_id = ticket_id


# -- the one request every channel hands to the intake gate ----------------------------


class Decision(StrEnum):
    """What the intake gate made of a request."""

    CREATED = "created"
    DUPLICATE = "duplicate"
    REPLIED = "replied"
    REOPENED = "reopened"
    LINKED = "linked_new_ticket"
    THIRD_PARTY = "third_party"
    REFUSED = "refused"
    INVALID = "invalid"
    IGNORED = "ignored"


@dataclass(frozen=True)
class IncomingFile:
    """A file that came with a request (an email attachment, a chat upload)."""

    filename: str
    content_type: str
    content: bytes = field(repr=False)
    request_text: bool = False
    """The request's own text kept whole (its description was cut): bounded by the channel's
    size limit, not by the attachment limit, since it is the only copy of what was said."""


@dataclass(frozen=True)
class IntakeRequest:
    """One request from any channel, as plain values; the gate normalises and decides.

    ``name``/``email``/``phone``/``organisation`` describe who wrote (the sender);
    ``thread_hints`` are texts that may name an existing ticket besides the subject
    (an ID keyed in on the phone, a letter's In-Reply-To and References).
    ``noise`` is the channel's reason to believe nobody wrote it (an auto-reply).
    ``acknowledged_by`` names the agent who told the caller the ticket's ID (R18 by voice).
    ``entered_by`` names the staff member who typed in the requester's words.
    ``reply_text`` is ``text`` without the history it quotes (a letter's reply): what a
    message on an existing ticket records; the whole ``text`` is kept with it as a file.
    """

    channel: Channel
    intake_key: str
    actor: Actor
    name: str = ""
    email: str = ""
    phone: str = ""
    organisation: str = ""
    subject: str = ""
    text: str = ""
    product: Product = Product.UNKNOWN
    product_version: str = ""
    device: str = ""
    attachments: tuple[IncomingFile, ...] = ()
    contacts: tuple[str, ...] = ()
    thread_hints: tuple[str, ...] = ()
    received_at: datetime | None = None
    noise: str = ""
    acknowledged_by: str = ""
    entered_by: str = ""
    reply_text: str = ""


@dataclass(frozen=True)
class IntakeOutcome:
    """The gate's answer: what it decided, for which ticket, and why (for refusals and errors)."""

    decision: Decision
    ticket_id: str | None = None
    detail: str = ""
    field: str = ""
    position: int | None = None
    errors: tuple[tuple[str, str], ...] = ()
    """(field, reason) for every wrong field of an invalid request."""

    @property
    def created(self) -> bool:
        return self.decision in (Decision.CREATED, Decision.LINKED)

    @property
    def accepted(self) -> bool:
        """The request is on a ticket (new, threaded, kept for review, or seen before)."""
        return self.ticket_id is not None and self.decision not in (
            Decision.REFUSED, Decision.INVALID, Decision.IGNORED)
