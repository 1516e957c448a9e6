"""Kafka envelopes back into the ``TicketEvent`` records the read models fold.

Both ways of feeding the read models must produce identical rows, down to the
history's ``data`` text. The store runner reads the stored JSON (plain stores:
the transcoder's text, datetimes wrapped as ``{"_type_": "datetime_iso", ...}``;
ciphered or compressed stores: ``tickets.dumps`` of the domain event). So the
envelope is turned back into the event's state exactly as it was stored, typed
values included: ``timestamp`` from ``time`` (recorded in UTC, as the envelope
carries it), ``originator_topic`` for the creating event, the ``data`` fields
in the event class's field order, and fields the class declares as
``datetime`` parsed back into datetimes. That state is then encoded the way the
store runner sees it and decoded with the same ``plain_fields``.

The notification position the store runner tracks is the envelope's
``sequence``, so positions kept in rows (the queue's arrival order, history
positions) are the store's, whatever order Kafka delivers tickets in.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from eventsourcing.domain import CanMutateAggregate
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex
from eventsourcing.utils import get_topic

from adapters.kafka.envelope import TYPE_PREFIX, Envelope
from domain.ticket import Ticket
from projections.tickets import TICKET_TOPIC, TicketEvent, dumps, plain_fields

TICKET_TYPE = f"{TYPE_PREFIX}Ticket."
_HEADER = ("originator_id", "originator_version", "timestamp", "originator_topic")
_DATETIME_TYPES = frozenset({"datetime", "datetime | None", "Optional[datetime]"})


def default_transcoder() -> JSONTranscoder:
    """The transcoder eventsourcing's ``Application`` builds by default (the desk's)."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


@dataclasses.dataclass(frozen=True)
class _EventShape:
    fields: tuple[str, ...]
    datetimes: frozenset[str]
    creates: bool


def _shape(name: str) -> _EventShape | None:
    cls = getattr(Ticket, name, None)
    if not isinstance(cls, type) or not issubclass(cls, CanMutateAggregate):
        return None
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    return _EventShape(
        fields=tuple(f.name for f in fields if f.name not in _HEADER),
        datetimes=frozenset(f.name for f in fields if str(f.type) in _DATETIME_TYPES),
        creates="originator_topic" in {f.name for f in fields},
    )


class EnvelopeDecoder:
    """Turns ``pass24.ticket-events`` envelopes into ``TicketEvent`` records.

    ``stored_json`` must match how the store runner reads the desk's store:
    True for plain JSON stores (the default), False when the store is ciphered
    or compressed (``ProjectionRunner.raw_json``).
    """

    def __init__(self, *, stored_json: bool = True, transcoder: JSONTranscoder | None = None) -> None:
        self.stored_json = stored_json
        self.transcoder = transcoder or default_transcoder()
        self.aggregate_topic = get_topic(Ticket)
        self._shapes: dict[str, _EventShape | None] = {}

    def is_ticket_event(self, envelope: Envelope) -> bool:
        return envelope.type.startswith(TICKET_TYPE)

    def decode(self, envelope: Envelope) -> TicketEvent:
        """The record the store runner would have made of this event."""
        name = envelope.type.removeprefix(TICKET_TYPE)
        if name not in self._shapes:
            self._shapes[name] = _shape(name)
        shape = self._shapes[name]
        if shape is None:
            raise LookupError(f"unknown ticket event type {envelope.type!r}")
        state = self._state(envelope, shape)
        text = self.transcoder.encode(state).decode() if self.stored_json else dumps(state)
        fields = plain_fields(text) if self.stored_json else json.loads(text)
        return TicketEvent(envelope.sequence, str(envelope.originatorid),
                           envelope.originatorversion, name, fields, fields["at"])

    def topic(self, envelope: Envelope) -> str:
        """The event's topic in the store (``domain.ticket:Ticket.Received``)."""
        return TICKET_TOPIC + envelope.type.removeprefix(TICKET_TYPE)

    def _state(self, envelope: Envelope, shape: _EventShape) -> dict[str, Any]:
        data = envelope.data
        state: dict[str, Any] = {"timestamp": envelope.time}
        if shape.creates:
            state["originator_topic"] = self.aggregate_topic
        # The class's field order is the order the event's __dict__ (and so the stored
        # JSON) had; fields added by a newer compatible schema follow.
        for key in (*shape.fields, *(k for k in data if k not in shape.fields)):
            if key not in data:
                continue
            value = data[key]
            if key in shape.datetimes and isinstance(value, str):
                value = datetime.fromisoformat(value)
            state[key] = value
        return state
