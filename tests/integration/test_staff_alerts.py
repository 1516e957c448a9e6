"""SLA alerts reach people: one letter per alert per recipient (assignee, or the supervisors
while unassigned) through the outbox, and a signed webhook to a real HTTP server."""

from __future__ import annotations

import json
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from adapters.outbox.alerts import AlertSettings, StaffAlerter
from adapters.outbox.notices import Notices, NoticeSettings
from adapters.outbox.store import Outbox
from adapters.signing import SIGNATURE_HEADER, sign
from domain.sla import ClockName
from projections.parking import ParkingLot, PoisonGuard
from domain.values import Category, Channel, Level, Product
from services.application import SupportDesk
from services.clock import ManualClock
from tests.fixtures.http_server import serving
from tests.fixtures.stores import Stores, desk, stores  # noqa: F401
from tests.helpers import AGENT, CLIENT, SUPERVISOR, SYSTEM, msk

SECRET = "alert-webhook-secret-0123456789"


def emergency(desk: SupportDesk) -> str:
    ticket_id = desk.receive(channel=Channel.PHONE, requester=CLIENT, subject="Шлагбаум не открывается",
                             description="Пропуска не работают.", product=Product.CONTROL,
                             product_version="3.14.2", actor=AGENT, at=msk("2025-04-28 10:00")).ticket_id
    desk.classify(ticket_id, level=Level.EMERGENCY, product=Product.CONTROL,
                  category=Category.OPERATIONAL_FAILURE, actor=AGENT, at=msk("2025-04-28 10:05"))
    return ticket_id


def letters(outbox: Outbox, kind: str) -> list[tuple[str, str, str]]:
    found = []
    for entry in outbox.entries():
        if entry.kind == kind:
            message = message_from_bytes(entry.message, policy=default)
            found.append((entry.recipient, str(message["Subject"]), message.get_content()))
    return found


def test_alerts_go_to_supervisors_then_the_assignee_once_per_cycle(tmp_path: Path) -> None:
    received: list[dict[str, Any]] = []
    hook = FastAPI()

    @hook.post("/alerts")
    async def alerts(request: Request) -> dict[str, str]:
        body = await request.body()
        received.append({"body": json.loads(body), "signature": request.headers.get(SIGNATURE_HEADER),
                         "expected": sign(SECRET, body), "key": request.headers.get("idempotency-key")})
        return {"ok": "yes"}

    clock = ManualClock(msk("2025-04-28 10:05"))
    desk = SupportDesk(clock=clock)
    outbox = Outbox(tmp_path / "mail.sqlite")
    notices = Notices(NoticeSettings(public_url="https://desk.example"), desk.policy, desk.calendar)
    ticket_id = emergency(desk)
    with serving(hook) as url:
        settings = AlertSettings(supervisors=["duty@pass24online.ru", "lead@pass24online.ru"],
                                 staff_addresses={"agent.kim": "kim@pass24online.ru"},
                                 webhook_url=f"{url}/alerts", webhook_secret=SECRET)
        alerter = StaffAlerter(desk, outbox, notices, settings)
        # 45 working minutes in: at risk, nobody assigned -> the supervisors.
        desk.record_sla_alert(ticket_id, clock=ClockName.REACTION, breached=False, actor=SYSTEM,
                              at=msk("2025-04-28 10:50"))
        assert alerter.run_once() > 0
        sent = letters(outbox, "staff_alert")
        assert sorted(r for r, _, _ in sent) == ["duty@pass24online.ru", "lead@pass24online.ru"]
        assert all(ticket_id in subject and "Срок под угрозой" in subject for _, subject, _ in sent)
        assert f"https://desk.example/ui/tickets/{ticket_id}" in sent[0][2]
        assert "Срок: 28.04.2025 11:00 МСК" in sent[0][2]

        # Assigned, then breached: only the assignee is told.
        desk.assign(ticket_id, assignee="agent.kim", actor=SUPERVISOR, at=msk("2025-04-28 10:55"))
        desk.record_sla_alert(ticket_id, clock=ClockName.REACTION, breached=True, actor=SYSTEM,
                              at=msk("2025-04-28 11:01"))
        # The same alert again is refused by the ticket (once per clock cycle) ...
        assert desk.record_sla_alert(ticket_id, clock=ClockName.REACTION, breached=True, actor=SYSTEM,
                                     at=msk("2025-04-28 11:02")) is None
        alerter.run_once()
        # ... and a second pass, or a restarted follower, queues nothing twice.
        alerter.run_once()
        StaffAlerter(desk, outbox, notices, settings).run_once()
        sent = letters(outbox, "staff_alert")
        assert len(sent) == 3
        assert sent[-1][0] == "kim@pass24online.ru" and "Срок нарушен" in sent[-1][1]

    assert [item["body"]["kind"] for item in received] == ["sla_at_risk", "sla_breached"]
    assert all(item["signature"] == item["expected"] for item in received)
    assert received[1]["body"]["ticket_id"] == ticket_id and received[1]["body"]["assignee"] == "agent.kim"
    assert received[0]["key"] != received[1]["key"]


def test_a_refused_webhook_alert_is_set_aside_listed_and_retried_in_order(
        stores: Stores, desk: SupportDesk) -> None:
    """The webhook pass is a follower like the others: an alert the chat system keeps
    refusing is parked under ``staff-alerts-webhook`` after the bounded tries, that
    ticket's later alerts wait behind it, other tickets' alerts and every letter go out,
    and ``parked retry`` posts them in order."""
    hook = FastAPI()
    broken: set[str] = set()
    posted: list[tuple[str, str]] = []
    calls: list[str] = []

    @hook.post("/alerts")
    async def alerts(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        calls.append(body["ticket_id"])
        if body["ticket_id"] in broken:
            return JSONResponse({"error": "chat system refuses"}, status_code=500)
        posted.append((body["ticket_id"], body["kind"]))
        return JSONResponse({"ok": True})

    lot = ParkingLot(stores.main)
    outbox = Outbox(stores.main)
    poisoned, healthy = emergency(desk), emergency(desk)
    broken.add(poisoned)
    with serving(hook) as url:
        alerter = StaffAlerter(desk, outbox, Notices(NoticeSettings(), desk.policy, desk.calendar),
                               AlertSettings(supervisors=["duty@pass24online.ru"],
                                             webhook_url=f"{url}/alerts"),
                               guard=PoisonGuard(lot, "staff-alerts", tries=3))
        desk.record_sla_alert(poisoned, clock=ClockName.REACTION, breached=False, actor=SYSTEM,
                              at=msk("2025-04-28 10:50"))
        desk.record_sla_alert(healthy, clock=ClockName.REACTION, breached=False, actor=SYSTEM,
                              at=msk("2025-04-28 10:50"))
        for _ in range(4):
            alerter.run_once()
        desk.record_sla_alert(poisoned, clock=ClockName.REACTION, breached=True, actor=SYSTEM,
                              at=msk("2025-04-28 11:01"))
        alerter.run_once()

        assert calls.count(poisoned) == 3  # the bounded tries, then set aside
        assert posted == [(healthy, "sla_at_risk")]
        assert len(letters(outbox, "staff_alert")) == 3  # the letters never waited
        assert outbox.position("staff-alerts-webhook") == outbox.position("staff-alerts")
        items = lot.items(worker="staff-alerts-webhook")
        assert [i.state for i in items] == ["parked", "held"]
        assert "HTTP 500" in items[0].error

        broken.clear()
        assert lot.retry([items[0].id], actor="ops") == 1
        assert alerter.retry_webhook_parked() == 2
    assert posted[1:] == [(poisoned, "sla_at_risk"), (poisoned, "sla_breached")]
    assert lot.items(worker="staff-alerts-webhook") == []


def test_a_delivery_failure_tells_staff_how_to_reach_the_requester(tmp_path: Path) -> None:
    from domain.values import Channel as C

    desk = SupportDesk(clock=ManualClock(msk("2025-04-28 10:05")))
    outbox = Outbox(tmp_path / "mail.sqlite")
    ticket_id = emergency(desk)
    desk.record_delivery_failure(ticket_id, notice="acknowledgement", recipient="olga@example.ru",
                                 reason="550 5.1.1 user unknown", permanent=True,
                                 message_id=f"<{ticket_id}.ack@pass24online.ru>",
                                 fallback=[C.CHATBOT, C.PHONE], actor=SYSTEM)
    StaffAlerter(desk, outbox, Notices(NoticeSettings(), desk.policy, desk.calendar),
                 AlertSettings(supervisors=["duty@pass24online.ru"])).run_once()
    [(recipient, subject, body)] = letters(outbox, "delivery_fallback")
    assert recipient == "duty@pass24online.ru" and ticket_id in subject
    assert "550 5.1.1 user unknown" in body and "чат-бот, телефон" in body


def test_a_request_for_information_goes_out_as_the_missing_details_letter(tmp_path: Path) -> None:
    from adapters.outbox.responses import ResponseMailer
    from domain.values import RequiredInfo

    desk = SupportDesk(clock=ManualClock(msk("2025-04-28 10:05")))
    outbox = Outbox(tmp_path / "mail.sqlite")
    ticket_id = emergency(desk)
    desk.request_information(ticket_id, text="Пришлите журнал контроллера.", actor=AGENT,
                             items=[RequiredInfo.PRODUCT_VERSION], at=msk("2025-04-28 10:10"))
    ResponseMailer(desk, outbox, Notices(NoticeSettings(), desk.policy, desk.calendar)).run_once()
    [(recipient, subject, body)] = [item for item in letters(outbox, "response")]
    assert recipient == "olga@example.ru" and subject.startswith(f"Re: [{ticket_id}] Нужны сведения")
    assert "Пришлите журнал контроллера." in body and "  • номер версии продукта" in body
