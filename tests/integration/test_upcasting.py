"""docs/OPERATIONS.md "Upgrades": a store written by today's code, read after a change.

The change simulated here is the kind an upgrade brings: ``Assigned`` gets a
second version whose actor also says through which channel the assignment came
(``actor.via``). Events stored before the change have no such key; the new
class says ``class_version = 2`` and ``upcast_v1_v2`` fills the key in when an
old event is read. Nothing stored is rewritten, so the audit seals over the
stored bytes still verify, and events written after the change are stored as v2
and are not upcast again.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapters.audit.verify import verify_store
from domain.ticket import Ticket
from domain.values import Actor, Channel, Requester
from services.api.views import event_view
from services.application import SupportDesk

MSK = ZoneInfo("Europe/Moscow")
AGENT = Actor.staff("agent.ivanova")


def open_store(path: Path) -> SupportDesk:
    return SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)})


def upcast_v1_v2(state: dict[str, Any]) -> None:
    state["actor"] = {**state["actor"], "via": "api"}


def test_events_stored_before_a_change_are_upcast_when_read(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "desk.sqlite"
    today = open_store(store)
    ticket_id = today.receive(channel=Channel.PHONE, requester=Requester(phone="+7 495 000-00-00"),
                              subject="Шлагбаум", description="не открывается", actor=AGENT,
                              at=datetime(2025, 4, 28, 10, tzinfo=MSK)).ticket_id
    today.assign(ticket_id, assignee="agent.sidorov", actor=AGENT,
                 at=datetime(2025, 4, 28, 10, 5, tzinfo=MSK))
    today.close()

    # The upgrade: the new code's Assigned is version 2 and knows how to read version 1.
    monkeypatch.setattr(Ticket.Assigned, "class_version", 2, raising=False)
    monkeypatch.setattr(Ticket.Assigned, "upcast_v1_v2", staticmethod(upcast_v1_v2), raising=False)

    upgraded = open_store(store)
    try:
        assigned = [e for e in upgraded.ticket_events(ticket_id) if isinstance(e, Ticket.Assigned)]
        assert [e.actor for e in assigned] == [{**AGENT.as_dict(), "via": "api"}]
        assert upgraded.get_ticket(ticket_id).assignee == "agent.sidorov"
        assert event_view(assigned[0])["actor"]["via"] == "api"
        # Nothing stored was rewritten: the seals still hold.
        assert verify_store(upgraded).ok

        # New events are stored in the new shape and read back as they are.
        upgraded.assign(ticket_id, assignee="agent.petrova",
                        actor=Actor.staff("supervisor.petrov"),
                        at=datetime(2025, 4, 28, 11, tzinfo=MSK))
        stored = upgraded.recorder.select_events(upgraded.get_ticket(ticket_id).id)[-1]
        assert b'"class_version":2' in upgraded.mapper.open(stored.state)
        newest = [e for e in upgraded.ticket_events(ticket_id) if isinstance(e, Ticket.Assigned)][-1]
        assert "via" not in newest.actor  # written by v2 code without it: not upcast again
        assert verify_store(upgraded).ok
    finally:
        upgraded.close()


def test_without_the_upcaster_the_old_event_keeps_its_old_shape(tmp_path: Path) -> None:
    """The control: the test above fails if upcasting does not happen."""
    store = tmp_path / "desk.sqlite"
    desk = open_store(store)
    ticket_id = desk.receive(channel=Channel.PHONE, requester=Requester(phone="+7 495 000-00-00"),
                             subject="x", description="y", actor=AGENT,
                             at=datetime(2025, 4, 28, 10, tzinfo=MSK)).ticket_id
    desk.assign(ticket_id, assignee="a", actor=AGENT, at=datetime(2025, 4, 28, 10, 5, tzinfo=MSK))
    assigned = [e for e in desk.ticket_events(ticket_id) if isinstance(e, Ticket.Assigned)]
    assert "via" not in assigned[0].actor
    desk.close()
