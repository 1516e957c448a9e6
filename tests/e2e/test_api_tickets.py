"""Ticket commands and queries over HTTP."""

from __future__ import annotations

from datetime import timedelta

from services.api.auth import Role
from tests.e2e.conftest import Api
from tests.helpers import msk

PROBLEM = "application/problem+json"


def test_receive_returns_201_with_id_and_location(api: Api) -> None:
    response = api.client.post("/tickets", headers=api.headers(), json={
        "requester": {"email": "olga@example.ru"}, "description": "Gate is stuck",
        "product": "pass24_online", "product_version": "2025.4"})
    assert response.status_code == 201
    ticket_id = response.json()["id"]
    assert response.headers["location"] == f"/tickets/{ticket_id}"
    ticket = api.client.get(f"/tickets/{ticket_id}", headers=api.headers()).json()
    for key in ("id", "status", "level", "product", "channel", "received_at"):
        assert key in ticket
    assert ticket["channel"] == "phone"
    for clock in ("reaction", "resolution"):
        assert {"due_at", "status", "remaining_seconds"} <= ticket["sla"][clock].keys()


def test_same_intake_key_is_one_ticket(api: Api) -> None:
    first = api.receive(intake_key="call-1001")
    again = api.client.post("/tickets", headers=api.headers(), json={
        "requester": {"phone": "+7 900 000-00-00"}, "description": "again",
        "intake_key": "call-1001"})
    assert again.status_code == 200
    assert again.json() == {"id": first, "created": False, "position": None, "outcome": "duplicate"}


def test_lifecycle_moves_the_sla_clocks(api: Api) -> None:
    ticket_id = api.receive()
    api.clock.advance(timedelta(minutes=5))
    api.act(ticket_id, "classify", {"level": "emergency", "product": "pass24_control",
                                    "category": "operational_failure"})
    api.act(ticket_id, "confirm-emergency", {"note": "whole site down"}, role=Role.SUPERVISOR)
    api.clock.advance(timedelta(minutes=10))
    api.act(ticket_id, "respond", {"text": "On it", "links": ["https://docs.example/faq"]})
    ticket = api.client.get(f"/tickets/{ticket_id}", headers=api.headers()).json()
    assert ticket["level"] == "emergency" and ticket["emergency_confirmed"] is True
    assert ticket["sla"]["reaction"]["status"] == "met"
    assert ticket["sla"]["resolution"]["due_at"] == "2025-04-28T14:00:00+03:00"
    api.clock.set(msk("2025-04-28 15:00"))
    ticket = api.client.get(f"/tickets/{ticket_id}", headers=api.headers()).json()
    assert ticket["sla"]["resolution"]["status"] == "breached"
    assert ticket["sla"]["resolution"]["remaining_seconds"] == -3600


def test_history_as_of_an_instant_shows_the_state_then(api: Api) -> None:
    ticket_id = api.receive()
    api.clock.set(msk("2025-04-28 11:00"))
    api.act(ticket_id, "classify", {"level": "standard", "product": "pass24_control",
                                    "category": "defect"})
    api.clock.set(msk("2025-04-29 12:00"))
    api.act(ticket_id, "resolve", {"resolution": "Reader replaced"})
    full = api.client.get(f"/tickets/{ticket_id}/history", headers=api.headers(Role.AUDITOR)).json()
    assert [e["type"] for e in full["events"]] == ["Received", "Classified", "Resolved"]
    assert full["state"]["status"] == "resolved"
    then = api.client.get(f"/tickets/{ticket_id}/history", headers=api.headers(Role.AUDITOR),
                          params={"as_of": "2025-04-28T15:00:00+03:00"}).json()
    assert [e["type"] for e in then["events"]] == ["Received", "Classified"]
    assert then["state"]["status"] == "open"
    assert then["state"]["level"] == "standard"
    assert then["state"]["sla"]["resolution"]["used_seconds"] == 5 * 3600
    before = api.client.get(f"/tickets/{ticket_id}/history", headers=api.headers(Role.AUDITOR),
                            params={"as_of": "2025-04-27T15:00:00+03:00"})
    assert before.status_code == 404
    naive = api.client.get(f"/tickets/{ticket_id}/history", headers=api.headers(Role.AUDITOR),
                           params={"as_of": "2025-04-28T15:00:00"})
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "query.as_of"


def test_history_pages(api: Api) -> None:
    ticket_id = api.receive()
    for n in range(4):
        api.clock.advance(timedelta(minutes=1))
        api.act(ticket_id, "assign", {"assignee": f"agent.{n}"})
    page = api.client.get(f"/tickets/{ticket_id}/history", headers=api.headers(),
                          params={"limit": 2, "offset": 2}).json()
    assert page["total"] == 5
    assert [e["version"] for e in page["events"]] == [3, 4]


def test_bad_payload_is_422_problem_naming_each_field(api: Api) -> None:
    ticket_id = api.receive()
    response = api.client.post(f"/tickets/{ticket_id}/classify", headers=api.headers(),
                               json={"level": "urgent", "product": "pass24_control"})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"body.level", "body.category"}


def test_requester_without_contact_is_422(api: Api) -> None:
    response = api.client.post("/tickets", headers=api.headers(), json={
        "requester": {"name": "Anon"}, "description": "help"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.requester"


def test_broken_rule_is_409_problem(api: Api) -> None:
    ticket_id = api.receive()
    premature = api.client.post(f"/tickets/{ticket_id}/resolve", headers=api.headers(),
                                json={"resolution": "done"})
    assert premature.status_code == 409 and premature.json()["rule"] == "not_classified"
    api.act(ticket_id, "classify", {"level": "consultation", "product": "pass24_online",
                                    "category": "general_consultation"})
    api.act(ticket_id, "resolve", {"resolution": "done"})
    api.act(ticket_id, "close", {})
    response = api.client.post(f"/tickets/{ticket_id}/respond", headers=api.headers(),
                               json={"text": "late"})
    assert response.status_code == 409
    body = response.json()
    assert response.headers["content-type"] == PROBLEM
    assert body["rule"] and body["detail"]


def test_unknown_and_malformed_ticket_ids(api: Api) -> None:
    missing = api.client.get("/tickets/P24-000000", headers=api.headers())
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    malformed = api.client.get("/tickets/not-an-id", headers=api.headers())
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "ticket_id"


def test_non_json_body_is_a_problem_not_a_crash(api: Api) -> None:
    response = api.client.post("/tickets", headers={**api.headers(), "Content-Type": "application/json"},
                               content=b"{not json")
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


def test_openapi_documents_every_endpoint_and_its_problems(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    paths = schema["paths"]
    assert "/tickets" in paths and "/queue" in paths and "/sla/stats" in paths
    actions = [p for p in paths if p.startswith("/tickets/{ticket_id}/")]
    assert len(actions) >= 15
    for path, operations in paths.items():
        for method, operation in operations.items():
            if path in ("/healthz", "/readyz"):  # probes are public
                continue
            if (method, path) == ("delete", "/session"):  # signing out needs no sign-in
                continue
            assert "401" in operation["responses"], (method, path)
            assert "application/problem+json" in operation["responses"]["401"]["content"]


def test_queue_and_timers_read_your_writes(api: Api) -> None:
    first = api.receive()
    second = api.receive(subject="Второй")
    api.clock.advance(timedelta(minutes=5))
    result = api.act(second, "classify", {"level": "emergency", "product": "pass24_control",
                                          "category": "operational_failure"})
    confirmed = api.act(second, "confirm-emergency", {}, role=Role.SUPERVISOR)
    assert isinstance(confirmed["position"], int) and confirmed["position"] > result["position"]  # type: ignore[operator]
    queue = api.client.get("/queue", headers=api.headers(),
                           params={"min_position": confirmed["position"]}).json()
    assert [t["id"] for t in queue["items"]] == [second, first]
    assert queue["position"] >= confirmed["position"]
    timers = api.client.get("/sla/timers", headers=api.headers(Role.AUDITOR),
                            params={"ticket_id": second, "min_position": confirmed["position"]}).json()
    assert timers["items"][0]["resolution"]["due_at"] == "2025-04-28T14:00:00+03:00"
    stats = api.client.get("/sla/stats", headers=api.headers(Role.AUDITOR),
                           params={"min_position": confirmed["position"]}).json()
    assert sum(r["received"] for r in stats["rows"]) == 2
    far = api.client.get("/queue", headers=api.headers(), params={"min_position": 10**6})
    assert far.status_code == 503 and far.headers["retry-after"] == "1"


def test_unknown_query_parameters_are_refused(api: Api) -> None:
    response = api.client.get("/queue", headers=api.headers(), params={"levle": "emergency"})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "query.levle", "reason": "неизвестный параметр запроса"}]


def test_stats_period_must_be_iso_text(api: Api) -> None:
    response = api.client.get("/sla/stats", headers=api.headers(), params={"until": "1745830800"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "query.until"
