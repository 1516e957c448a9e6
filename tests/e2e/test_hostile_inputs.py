"""Hostile text and dates through the staff commands: stored clean or refused naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Api
from tests.e2e.test_serve_process import environment  # noqa: F401 - the served desk's settings

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


# -- the same through a real ``pass24-desk serve`` process ------------------------------------

HOSTILE_TEXT = ["a\x00b", "a\x01\x07\x1b[31mb", "line1\r\nBcc: evil@example.com", "abc\u202egpj.exe",
                "\ud800 lone", "x" * 300_000]


@pytest.fixture
def hostile_environment(environment: dict[str, str]) -> dict[str, str]:  # noqa: F811
    environment.update(PASS24_FORM_SECRET="form-secret-0123456789",
                       PASS24_PHONE_SECRET="phone-secret-0123456789",
                       PASS24_CHATBOT_SECRET="chat-secret-0123456789")
    return environment


@pytest.mark.slow
def test_a_served_desk_answers_hostile_input_on_every_channel_and_keeps_serving(
        hostile_environment: dict[str, str], hostile_server: str) -> None:
    import json

    import httpx

    from tests.e2e.test_serve_process import issue

    base = hostile_server
    agent = {"Authorization": f"Bearer {issue(hostile_environment, 'agent')}"}
    supervisor = {"Authorization": f"Bearer {issue(hostile_environment, 'supervisor')}"}
    phone = {"x-pass24-secret": "phone-secret-0123456789"}
    chat = {"x-pass24-secret": "chat-secret-0123456789"}
    form = {"x-pass24-secret": "form-secret-0123456789"}
    answers: list[httpx.Response] = []

    def raw(path: str, headers: dict[str, str], body: dict[str, object]) -> None:
        # json.dumps keeps a lone surrogate as \\ud800, as a hostile client sends it
        answers.append(httpx.post(base + path, headers={**headers, "content-type": "application/json"},
                                  content=json.dumps(body).encode(), timeout=30))

    for n, text in enumerate(HOSTILE_TEXT):
        raw("/tickets", agent, {"requester": {"name": text, "email": f"h{n}@example.ru"},
                                "subject": text, "description": text})
        raw("/intake/phone/calls", phone, {"call_id": f"c{n}", "agent": text, "caller_phone": "+7 495 1",
                                           "caller_name": text, "subject": text, "description": text})
        raw("/intake/chatbot/messages", chat, {"message_id": f"m{n}", "user": {"name": text,
                                               "email": f"c{n}@example.ru"}, "text": text})
        raw("/intake/form", form, {"email": f"f{n}@example.ru", "subject": text, "description": text})
    for when in ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"]:
        for path, name in [("/sla/stats", "since"), ("/sla/stats", "until")]:
            answers.append(httpx.get(base + path, headers=supervisor, params={name: when}))
    for name in ["limit", "offset"]:
        answers.append(httpx.get(base + "/queue", headers=supervisor, params={name: "9" * 400}))
    answers.append(httpx.get(base + "/queue?limit=1&limit=2", headers=supervisor))
    answers.append(httpx.get(base + "/queue?status=sideways", headers=supervisor))
    answers.append(httpx.post(base + "/tickets", headers={**agent, "content-type": "application/json"},
                              content=b"[" * 100_000 + b"]" * 100_000))

    for answer in answers:
        assert answer.status_code < 500, (answer.request.url, answer.text[:300])
        if answer.status_code >= 400:
            assert answer.headers["content-type"] == "application/problem+json", answer.text[:300]
            assert "Traceback" not in answer.text
    # ... and an ordinary ticket still goes in and shows in the queue
    created = httpx.post(base + "/tickets", headers=agent, json={
        "requester": {"name": "Ольга", "email": "olga@example.ru"}, "description": "Шлагбаум"})
    assert created.status_code == 201
    queue = httpx.get(base + "/queue", headers=agent,
                      params={"min_position": created.json()["position"], "limit": 500})
    assert created.json()["id"] in [t["id"] for t in queue.json()["items"]]
    assert httpx.get(base + "/readyz").json()["status"] != "down"


@pytest.fixture
def hostile_server(hostile_environment: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """``serve`` as tests/e2e/test_serve_process.py starts it, with the webhook secrets set."""
    from tests.e2e.test_serve_process import serve_process

    with serve_process(hostile_environment, tmp_path / "serve.log"):
        yield f"http://127.0.0.1:{hostile_environment['PASS24_API_PORT']}"
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


def test_a_lone_surrogate_in_a_json_form_is_a_422_naming_the_field_not_a_500() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from adapters.form.fields import DEFAULT_MAP
    from adapters.form.http import build_form_router
    from domain.intake import Decision, IntakeOutcome, IntakeRequest

    taken: list[IntakeRequest] = []

    def gate(request: IntakeRequest) -> IntakeOutcome:
        taken.append(request)
        return IntakeOutcome(Decision.CREATED, "P24-4K7Q9M")

    app = FastAPI()
    app.include_router(build_form_router(gate, secret="form-secret-0123456789",
                                         support_email="support@example.ru", field_map=DEFAULT_MAP))
    client = TestClient(app, raise_server_exceptions=False)
    answer = client.post("/intake/form", headers={"x-pass24-secret": "form-secret-0123456789",
                                                  "content-type": "application/json"},
                         content=b'{"email": "a@example.ru", "description": "x \\ud800 y"}')
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "description"
    assert taken == []
