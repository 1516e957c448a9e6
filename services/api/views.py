"""Domain objects turned into JSON-ready dicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.kafka.envelope import plain
from domain.sla import WorkingTime
from domain.ticket import Ticket
from domain.versions import LatestVersions

_ENVELOPE = {"originator_id", "originator_version", "timestamp", "at", "actor"}


def ticket_view(
    ticket: Ticket, at: datetime, calendar: WorkingTime, latest: LatestVersions | None = None
) -> dict[str, Any]:
    """The ticket as staff see it; ``latest`` (R2) flags a version older than the latest."""
    latest = latest or LatestVersions()
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
        "product_version": ticket.product_version,
        "device": ticket.device,
        "outdated_version": latest.is_outdated(ticket.product, ticket.product_version),
        "latest_version": latest.latest.get(ticket.product),
        "call_requester": ticket.call_requester,
        "acknowledged_at": plain(ticket.acknowledged_at),
        "notice_not_sent": plain(ticket.notice_not_sent),
        "delivery_failures": plain(ticket.delivery_failures),
        "escalation": plain(ticket.escalation),
        "releases": plain(ticket.releases),
        "postponement": plain(ticket.postponement),
        "resolution": ticket.resolution,
        "contacts": list(ticket.contacts),
        "third_party_messages": plain(ticket.third_party_messages),
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
