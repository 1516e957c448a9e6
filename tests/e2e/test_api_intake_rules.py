"""The API side of the intake rules: contacts and third-party letters (R19), the review
list, replies typed in by staff, asking at any time (R16), the full ticket view with the
R2 flag, and queue filters that never let "the last one win"."""

from __future__ import annotations

from datetime import timedelta

from domain.values import Channel, LIMITS
from domain.versions import LatestVersions
from services.api.auth import Role
from tests.e2e.conftest import Api
from tests.helpers import SYSTEM

STRANGER = "stranger@example.com"


def keep_letter(api: Api, ticket_id: str, key: str = "<x1@example.com>") -> str:
    api.desk.record_third_party_message_once(ticket_id, channel=Channel.EMAIL, intake_key=key,
                                             sender=f"Чужой <{STRANGER}>", text="Это мой счёт",
                                             actor=SYSTEM)
    letter: str = api.desk.get_ticket(ticket_id).third_party_messages[-1]["message_id"]
    return letter


def test_letters_from_strangers_wait_for_review_and_count_once_accepted(api: Api) -> None:
    ticket_id = api.receive(contacts=["boss@example.ru"])
    api.act(ticket_id, "respond", {"text": "Смотрим"})
    api.clock.advance(timedelta(minutes=10))
    letter = keep_letter(api, ticket_id)
    view = api.client.get(f"/tickets/{ticket_id}", headers=api.headers()).json()
    assert view["contacts"] == ["olga@example.ru", "boss@example.ru"]
    assert [(m["message_id"], m["accepted_at"]) for m in view["third_party_messages"]] == [(letter, None)]
    assert view["sla"]["reaction"]["status"] == "met"  # the letter started no clock
    review = api.client.get("/review/third-party", headers=api.headers(Role.AUDITOR),
                            params={"min_position": 1}).json()
    assert [(i["ticket_id"], i["message_id"]) for i in review["items"]] == [(ticket_id, letter)]

    path = f"/tickets/{ticket_id}/third-party-messages/{letter}/accept"
    assert api.client.post(path, headers=api.headers(Role.INTEGRATION)).status_code == 403
    unknown = api.client.post(f"/tickets/{ticket_id}/third-party-messages/L-0/accept",
                              headers=api.headers())
    assert unknown.status_code == 409
    bad = api.client.post(f"/tickets/{ticket_id}/third-party-messages/<x1@example.com>/accept",
                          headers=api.headers())
    assert bad.status_code in (404, 422)
    accepted = api.client.post(path, headers=api.headers())
    assert accepted.status_code == 200, accepted.text
    view = api.client.get(f"/tickets/{ticket_id}", headers=api.headers()).json()
    assert view["sla"]["reaction"]["status"] == "on_track"
    assert view["third_party_messages"][0]["accepted_by"] == "agent.tester"
    assert api.client.post(path, headers=api.headers()).status_code == 409
    review = api.client.get("/review/third-party", headers=api.headers(),
                            params={"min_position": accepted.json()["position"]}).json()
    assert review["total"] == 0


def test_staff_add_a_contact_once(api: Api) -> None:
    ticket_id = api.receive()
    first = api.act(ticket_id, "contacts", {"email": "cc@example.ru"})
    again = api.act(ticket_id, "contacts", {"email": "CC@example.ru"})
    assert again["version"] == first["version"] and again["position"] is None
    bad = api.client.post(f"/tickets/{ticket_id}/contacts", json={"email": "nope"},
                          headers=api.headers())
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.email"
    assert api.client.post(f"/tickets/{ticket_id}/contacts", json={"email": "a@b.ru"},
                           headers=api.headers(Role.INTEGRATION)).status_code == 403


def test_a_reply_typed_in_names_the_requester_as_author_and_the_caller(api: Api) -> None:
    ticket_id = api.receive(requester={"phone": "101"}, product_version="")
    view = api.client.get(f"/tickets/{ticket_id}", headers=api.headers()).json()
    assert view["call_requester"] and view["status"] == "new"  # no email: call, clock runs
    api.act(ticket_id, "request-information", {"text": "Позвонили: какая версия?"})
    api.act(ticket_id, "requester-reply", {"text": "3.14", "product_version": "3.14"})
    api.act(ticket_id, "requester-reply", {"text": "И ещё"}, role=Role.INTEGRATION)
    events = api.client.get(f"/tickets/{ticket_id}/history", headers=api.headers()).json()["events"]
    replies = [e for e in events if e["type"] == "RequesterReplied"]
    assert [(e["actor"], e["data"]["entered_by"]) for e in replies] == [
        ({"kind": "requester", "id": "101"}, "agent.tester"),
        ({"kind": "requester", "id": "101"}, "integration.tester"),
    ]


def test_an_agent_may_ask_for_more_on_a_paused_ticket(api: Api) -> None:
    ticket_id = api.receive(product_version="")  # email: the system asked already
    events = api.client.get(f"/tickets/{ticket_id}/history", headers=api.headers()).json()["events"]
    assert [(e["type"], e["actor"]["kind"]) for e in events] == [("Received", "staff"),
                                                                 ("InformationRequested", "system")]
    api.act(ticket_id, "request-information", {"text": "И скриншот, пожалуйста"})
    view = api.client.get(f"/tickets/{ticket_id}", headers=api.headers()).json()
    assert view["status"] == "waiting_for_requester"


def test_the_ticket_view_shows_everything_that_happened(api: Api) -> None:
    api.desk.latest_versions = LatestVersions.parse("pass24_control=3.20")
    ticket_id = api.receive(product_version="3.14.2")
    api.desk.acknowledge(ticket_id, actor=SYSTEM)
    api.act(ticket_id, "escalate", {"summary": "Ошибка прошивки", "expected_release": "2025-05-06"})
    api.act(ticket_id, "fix-release", {"release": "3.20"})
    api.act(ticket_id, "postpone", {"reason": "outdated_version", "note": "обновитесь"})
    view = api.client.get(f"/tickets/{ticket_id}", headers=api.headers(Role.AUDITOR)).json()
    assert view["outdated_version"] is True and view["latest_version"] == "3.20"
    assert view["acknowledged_at"] == "2025-04-28T10:00:00+03:00"
    assert view["escalation"]["summary"] == "Ошибка прошивки"
    assert [r["release"] for r in view["releases"]] == ["3.20"]
    assert view["postponement"]["reason"] == "outdated_version"
    assert view["notice_not_sent"] is None and view["delivery_failures"] == []
    phone = api.receive(requester={"phone": "+7 495 000-00-00"}, product_version="3.20")
    api.desk.record_notice_not_sent(phone, reason="no email address", actor=SYSTEM)
    view = api.client.get(f"/tickets/{phone}", headers=api.headers()).json()
    assert view["notice_not_sent"]["reason"] == "no email address"
    assert view["outdated_version"] is False


def test_queue_filters_by_several_statuses_and_category(api: Api) -> None:
    new = api.receive()
    opened = api.receive(subject="Второй")
    api.act(opened, "classify", {"level": "standard", "product": "pass24_control",
                                 "category": "defect"})
    waiting = api.receive(subject="Третий", product_version="")
    last = api.act(waiting, "classify", {"level": "standard", "product": "pass24_control",
                                         "category": "general_consultation"})
    headers, pos = api.headers(), last["position"]
    both = api.client.get("/queue", headers=headers, params=[
        ("status", "new"), ("status", "open"), ("min_position", pos)]).json()
    assert [t["id"] for t in both["items"]] == [new, opened]
    defects = api.client.get("/queue", headers=headers, params={"category": "defect"}).json()
    assert [t["id"] for t in defects["items"]] == [opened]
    for query in ("level=emergency&level=standard", "limit=5&limit=10", "category=defect&category=defect"):
        response = api.client.get(f"/queue?{query}", headers=headers)
        assert response.status_code == 422, query
        assert response.json()["errors"][0]["reason"] == "takes one value; it was given more than once"


def test_the_api_uses_the_one_table_of_limits(api: Api) -> None:
    api.receive(subject="я" * LIMITS.subject)  # the API used to stop at 300
    api.receive(requester={"phone": "101"})  # a PBX extension, as the phone webhook sends
    for requester in ({"phone": "12"}, {"phone": "x" * 5}, {"email": "not an address"}):
        body = {"requester": requester, "description": "x"}
        response = api.client.post("/tickets", json=body, headers=api.headers())
        assert response.status_code == 422, requester
    # Through the intake gate, like every channel: an over-long subject is cut, not refused.
    long = api.client.post("/tickets", json={"requester": {"phone": "101"}, "description": "x",
                                             "subject": "я" * (LIMITS.subject + 1)},
                           headers=api.headers())
    assert long.status_code == 201
    subject = api.desk.get_ticket(long.json()["id"]).subject
    assert len(subject) == LIMITS.subject and subject.endswith("…")
