"""Every domain event type has a published schema (or a written reason not to be published)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import jsonschema_rs

from adapters.kafka import schemas
from adapters.kafka.dedup import Deduplicator, Verdict
from adapters.kafka.envelope import Envelope, encode, envelope
from adapters.kafka.intake import IntakeMessage
from domain.values import Category, Channel, Level, Product
from services.application import SupportDesk
from tests.helpers import AGENT, CLIENT, REQUESTER, msk

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def test_every_domain_event_type_is_published_with_a_schema_or_skipped_with_a_reason() -> None:
    names = set(schemas.domain_event_classes())
    assert "Ticket.Received" in names and "Ticket.SlaBreached" in names
    assert names == set(schemas.PUBLISHED) | set(schemas.UNPUBLISHED)
    assert not set(schemas.PUBLISHED) & set(schemas.UNPUBLISHED)
    for name, version in schemas.PUBLISHED.items():
        assert (SCHEMAS / f"{name}.v{version}.json").is_file(), f"no schema file for {name}"


def test_schema_files_match_the_event_classes() -> None:
    # A field added to an event without regenerating docs/schemas fails here.
    for file_name, schema in schemas.schema_files().items():
        committed = json.loads((SCHEMAS / file_name).read_text(encoding="utf-8"))
        assert committed == schema, f"regenerate: python -m adapters.kafka.schemas docs/schemas ({file_name})"


def test_the_envelope_of_every_event_of_a_full_lifecycle_validates() -> None:
    desk = SupportDesk()
    at = msk("2025-04-28 10:00")
    ticket_id = desk.receive(channel=Channel.EMAIL, requester=CLIENT, subject="Касса",
                             description="", actor=REQUESTER, intake_key="<k@x>", at=at).ticket_id
    step = timedelta(minutes=5)
    desk.acknowledge(ticket_id, actor=AGENT, at=at + step)
    desk.classify(ticket_id, level=Level.EMERGENCY, product=Product.CONTROL,
                  category=Category.DEFECT, actor=AGENT, at=at + 2 * step)
    desk.confirm_emergency(ticket_id, actor=AGENT, at=at + 3 * step)
    desk.record_requester_reply(ticket_id, text="Версия 3.1", product_version="3.1",
                                actor=REQUESTER, at=at + 4 * step)
    desk.escalate(ticket_id, summary="Сбой контроллера", actor=AGENT, at=at + 5 * step)
    desk.record_fix_release(ticket_id, release="3.1.1", actor=AGENT, at=at + 6 * step)
    desk.resolve(ticket_id, resolution="Обновили", actor=AGENT, at=at + 7 * step)
    envelope_validator = jsonschema_rs.validator_for(json.loads((SCHEMAS / "envelope.v1.json").read_text()))
    events = desk.ticket_events(ticket_id)
    for position, event in enumerate(events, start=1):
        name = type(event).__qualname__
        document = json.loads(encode(envelope(event, subject=ticket_id, sequence=position,
                                              source="pass24-desk/test",
                                              data_version=schemas.PUBLISHED[name])))
        envelope_validator.validate(document)
        data_schema = json.loads((SCHEMAS / f"{name}.v1.json").read_text())
        jsonschema_rs.validator_for(data_schema).validate(document["data"])
        parsed = Envelope.parse(json.dumps(document))
        assert parsed.id == f"{event.originator_id}:{event.originator_version}"
        assert parsed.subject == ticket_id and parsed.event_name == name
    # The empty description is asked for by the system in the receipt's own save (R16).
    assert type(events[1]).__qualname__ == "Ticket.InformationRequested"
    assert len(events) == 9


def test_deduplicator_applies_each_version_once_and_in_order() -> None:
    from uuid import uuid4

    ticket = uuid4()
    dedup = Deduplicator()
    deliveries = [1, 2, 1, 2, 4, 3, 4, 3, 5]
    verdicts = [dedup.judge(ticket, v) for v in deliveries]
    applied = [v for v, verdict in zip(deliveries, verdicts) if verdict is Verdict.APPLY]
    assert applied == [1, 2, 3, 4, 5]
    assert dedup.duplicates == 3 and dedup.ahead == 1


def test_intake_schema_file_describes_the_intake_message() -> None:
    schema = json.loads((SCHEMAS / "intake.v1.json").read_text())
    message = IntakeMessage(intake_key="form-1", channel=Channel.FORM, integration="bitrix24",
                            requester={"email": "a@b.ru"}, body="Не работает",  # type: ignore[arg-type]
                            received_at=msk("2025-04-28 10:00"))
    jsonschema_rs.validator_for(schema).validate(json.loads(message.encode()))
    assert set(schema["required"]) == {"intake_key", "channel", "integration", "requester", "received_at"}
