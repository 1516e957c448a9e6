"""Domain objects turned into JSON-ready dicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.kafka.envelope import plain
from domain.sla import WorkingTime
from domain.ticket import Ticket

_ENVELOPE = {"originator_id", "originator_version", "timestamp", "at", "actor"}


def ticket_view(ticket: Ticket, at: datetime, calendar: WorkingTime) -> dict[str, Any]:
    return {
        "id": ticket.ticket_id,
        "status": ticket.status.value,
        "level": ticket.level.value if ticket.level else None,
        "emergency_confirmed": ticket.emergency_confirmed,
        "product": ticket.product.value,
        "category": ticket.category.value if ticket.category else None,
        "channel": ticket.channel.value,
        "subject": ticket.subject,
        "description": ticket.description,
        "requester": ticket.requester.as_dict(),
        "assignee": ticket.assignee,
        "missing": [m.value for m in ticket.missing],
        "received_at": ticket.received_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
        "version": ticket.version,
        "sla": ticket.sla(at, calendar).as_dict(),
    }


def event_view(event: Any) -> dict[str, Any]:
    fields = vars(event)
    name = type(event).__qualname__.rsplit(".", 1)[-1]
    at = fields.get("at")
    return {
        "version": event.originator_version,
        "type": name,
        "at": at.isoformat() if isinstance(at, datetime) else None,
        "actor": plain(fields.get("actor")),
        "data": {k: plain(v) for k, v in fields.items() if k not in _ENVELOPE},
    }
