"""Hostile text and dates through the staff commands: stored clean or refused naming the field."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Api

PROBLEM = "application/problem+json"


def escalated(api: Api) -> str:
    ticket_id = api.receive()
    api.act(ticket_id, "classify", {"level": "standard", "product": "pass24_control",
                                    "category": "defect"})
    return ticket_id


def recorded(api: Api, ticket_id: str, event_type: str) -> dict[str, object]:
    history = api.client.get(f"/tickets/{ticket_id}/history", headers=api.headers())
    events = [e for e in history.json()["events"] if e["type"] == event_type]
    data: dict[str, object] = events[-1]["data"]
    return data


def test_one_line_staff_fields_are_stored_without_controls_or_line_breaks(api: Api) -> None:
    ticket_id = escalated(api)
    api.act(ticket_id, "assign", {"assignee": "ann\x00\r\nBcc: evil@example.com"})
    assert recorded(api, ticket_id, "Assigned")["assignee"] == "ann Bcc: evil@example.com"
    api.act(ticket_id, "escalate", {"summary": "crash", "issue_ref": "DEV-1\x00\r\n2"})
    assert recorded(api, ticket_id, "Escalated")["issue_ref"] == "DEV-1 2"
    api.act(ticket_id, "fix-release", {"release": "3.15\x00\r\n.1"})
    assert recorded(api, ticket_id, "FixReleased")["release"] == "3.15 .1"
    api.act(ticket_id, "requester-reply", {"text": "thanks", "message_id": "<a\x00b@x>"})
    assert recorded(api, ticket_id, "RequesterReplied")["message_id"] == "<ab@x>"
    view = api.client.get(f"/tickets/{ticket_id}", headers=api.headers()).json()
    assert view["assignee"] == "ann Bcc: evil@example.com"


@pytest.mark.parametrize("field,value", [("assignee", "\x00\x01"), ("assignee", "\u2028")])
def test_an_assignee_of_only_controls_is_refused_naming_the_field(api: Api, field: str,
                                                                   value: str) -> None:
    ticket_id = escalated(api)
    refused = api.client.post(f"/tickets/{ticket_id}/assign", headers=api.headers(),
                              json={field: value})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert field in refused.text


def test_a_release_of_only_controls_is_refused_naming_the_field(api: Api) -> None:
    ticket_id = escalated(api)
    api.act(ticket_id, "escalate", {"summary": "crash"})
    refused = api.client.post(f"/tickets/{ticket_id}/fix-release", headers=api.headers(),
                              json={"release": "\x00\r\n"})
    assert refused.status_code == 422, refused.text
    assert "release" in refused.text


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1969-12-31", "3000-01-01"])
def test_an_expected_release_outside_the_plausible_years_is_refused(api: Api, day: str) -> None:
    ticket_id = escalated(api)
    refused = api.client.post(f"/tickets/{ticket_id}/escalate", headers=api.headers(),
                              json={"summary": "crash", "expected_release": day})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert "expected_release" in refused.json()["errors"][0]["field"]
    history = api.client.get(f"/tickets/{ticket_id}/history", headers=api.headers()).json()
    assert "Escalated" not in [e["type"] for e in history["events"]]
    api.act(ticket_id, "escalate", {"summary": "crash", "expected_release": "2026-03-01"})


@pytest.mark.parametrize("received_at", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00",
                                         "1900-01-01T00:00:00+00:00", "2999-01-01T00:00:00+00:00"])
def test_a_receipt_at_the_ends_of_time_is_refused_by_the_gate_naming_the_field(
        api: Api, received_at: str) -> None:
    """Every channel's gate, Kafka intake included: an answer, not an OverflowError that
    parks the message and holds every later one from the same source."""
    from adapters.kafka.intake import IntakeMessage, to_request
    from domain.intake import Decision

    message = IntakeMessage.model_validate({
        "intake_key": "k-" + received_at, "channel": "email", "integration": "crm",
        "requester": {"email": "olga@example.ru"}, "body": "hello", "received_at": received_at})
    gate = api.client.app.state.gate  # type: ignore[attr-defined]
    outcome = gate.submit(to_request(message))
    assert outcome.decision is Decision.INVALID
    assert outcome.field == "received_at"
    assert api.desk.ticket_for_intake_key(message.channel, message.intake_key) is None
    fine = IntakeMessage.model_validate({**message.model_dump(), "intake_key": "k-fine",
                                         "received_at": api.clock.now().isoformat()})
    assert gate.submit(to_request(fine)).decision is Decision.CREATED


def test_bidi_overrides_are_dropped_from_one_line_fields(
        api: Api) -> None:
    ticket_id = api.receive(subject="Счёт \u202egpj.exe", requester={
        "name": "\u2067Мэллори\u2069 \u202eboB", "email": "m@example.ru"},
        description="Строка \u202eтекст\nשלום עולם")
    ticket = api.client.get(f"/tickets/{ticket_id}", headers=api.headers()).json()
    assert ticket["subject"] == "Счёт gpj.exe"
    assert ticket["requester"]["name"] == "Мэллори boB"
    # A body is a document, not a label: right-to-left text in it is left as written.
    assert ticket["description"] == "Строка \u202eтекст\nשלום עולם"


@pytest.mark.parametrize("address", ["<x@example.ru>", "a@example.ru>", "a@example.ru,b",
                                     "zz(comment)@example.ru", "a@-.-", "a@.ru", "a@ru."])
def test_header_syntax_is_not_an_email_address(api: Api, address: str) -> None:
    """They were taken, and the notice then failed at the mail server (or went to a
    different mailbox than the one shown)."""
    refused = api.client.post("/tickets", headers=api.headers(), json={
        "requester": {"email": address}, "description": "Шлагбаум"})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert "email" in refused.text


@pytest.mark.parametrize("address", ["olga@example.ru", "олег@пример.рф", "o'brien@example.ie",
                                     "a.b+tag@mail-1.example.com"])
def test_real_addresses_are_still_taken(api: Api, address: str) -> None:
    api.receive(requester={"email": address})
