"""Idempotent intake: one ticket per intake key (an email Message-ID, a call ID…)."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.ids import intake_uuid


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
