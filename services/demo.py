"""A scripted week of support work, on a manual clock, that shows the SLA clocks at work.

The week is 28 April – 12 May 2025: it crosses the May holidays (1–4 and
8–11 May are days off), so the clocks visibly skip them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

from domain.values import (
    Actor,
    Category,
    Channel,
    Level,
    PostponeReason,
    Product,
    Requester,
    RequiredInfo,
)
from services.application import SupportDesk
from services.clock import ManualClock

MSK = ZoneInfo("Europe/Moscow")
AGENT = Actor.staff("agent.ivanova")
SUPERVISOR = Actor.staff("supervisor.petrov")
SYSTEM = Actor.system()


def msk(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=MSK)


@dataclass
class Step:
    at: str
    action: Callable[[SupportDesk, str], object]


def run_demo(
    desk: SupportDesk, clock: ManualClock, now: str = "2025-05-12 12:00", run: str | None = None
) -> list[str]:
    """Take five tickets through their lifecycles; returns their IDs."""
    run = run or uuid4().hex[:8]

    def receive(
        at: str, channel: Channel, requester: Requester, subject: str, text: str, **extra: Any
    ) -> str:
        clock.set(msk(at))
        receipt = desk.receive(
            channel=channel, requester=requester, subject=subject, description=text,
            actor=SYSTEM if channel is Channel.EMAIL else AGENT,
            intake_key=f"demo-{run}-{subject}", **extra,
        )
        desk.acknowledge(receipt.ticket_id, actor=SYSTEM)
        return receipt.ticket_id

    def play(ticket_id: str, steps: list[Step]) -> None:
        for step in steps:
            clock.set(msk(step.at))
            step.action(desk, ticket_id)

    client = Requester(name="Ольга Смирнова", email="o.smirnova@example.ru", organisation="ЖК Сосны")
    guard = Requester(name="Пост охраны", phone="+7 495 000-00-00", organisation="БЦ Восток")
    admin = Requester(name="Игорь", email="igor@example.com")

    emergency = receive(
        "2025-04-28 10:00", Channel.PHONE, guard, "Шлагбаум не открывается по пропускам",
        "Since 09:40 no passes open the barrier; the journal shows no visits.",
        product_version="3.14.2",
    )
    play(emergency, [
        Step("2025-04-28 10:10", lambda d, t: d.classify(
            t, level=Level.EMERGENCY, product=Product.CONTROL,
            category=Category.OPERATIONAL_FAILURE, actor=AGENT)),
        Step("2025-04-28 10:15", lambda d, t: d.confirm_emergency(
            t, actor=SUPERVISOR, note="whole site blocked")),
        Step("2025-04-28 10:30", lambda d, t: d.respond(
            t, text="Restarting the controller service remotely.", actor=AGENT)),
        Step("2025-04-28 12:40", lambda d, t: d.resolve(
            t, resolution="Controller service restarted; passes work again.", actor=AGENT)),
    ])

    missing_version = receive(
        "2025-04-28 11:00", Channel.EMAIL, client, "Приложение падает при входе",
        "The PASS24.online app closes right after login on my phone.",
        product=Product.MOBILE_ONLINE,
    )
    play(missing_version, [
        Step("2025-04-29 10:00", lambda d, t: d.record_requester_reply(
            t, text="Version 5.2.0, Pixel 7, Android 15.", product_version="5.2.0",
            device="Pixel 7 / Android 15", actor=Actor.requester(client.email))),
        Step("2025-04-29 10:20", lambda d, t: d.classify(
            t, level=Level.STANDARD, product=Product.MOBILE_ONLINE,
            category=Category.DEFECT, actor=AGENT)),
        Step("2025-04-29 11:00", lambda d, t: d.escalate(
            t, summary="Crash after login on Android 15", actor=AGENT, issue_ref="MOB-1412")),
        Step("2025-05-06 10:00", lambda d, t: d.record_fix_release(
            t, release="5.2.1", actor=AGENT)),
        Step("2025-05-06 10:30", lambda d, t: d.resolve(
            t, resolution="Fixed in 5.2.1, please update.", actor=AGENT)),
    ])

    consultation = receive(
        "2025-04-30 17:00", Channel.FORM, admin, "Как выгрузить журнал посетителей?",
        "How do I export the visitor journal to Excel?", product=Product.ONLINE,
        product_version="2025.4",
    )
    play(consultation, [
        Step("2025-05-05 09:30", lambda d, t: d.classify(
            t, level=Level.CONSULTATION, product=Product.ONLINE,
            category=Category.GENERAL_CONSULTATION, actor=AGENT)),
        Step("2025-05-05 09:40", lambda d, t: d.respond(
            t, text="See the export guide.", links=["https://docs.pass24online.ru/journal/export"],
            actor=AGENT)),
        Step("2025-05-05 09:41", lambda d, t: d.resolve(
            t, resolution="Answered by link (R20).", actor=AGENT)),
    ])

    forgotten = receive(
        "2025-04-29 09:00", Channel.EMAIL, admin, "Медленно открывается журнал",
        "The journal takes a minute to load since Friday.", product=Product.ONLINE,
        product_version="2025.4",
    )
    play(forgotten, [
        Step("2025-04-29 09:30", lambda d, t: d.classify(
            t, level=Level.STANDARD, product=Product.ONLINE,
            category=Category.OPERATIONAL_FAILURE, actor=AGENT)),
        Step("2025-04-29 09:35", lambda d, t: d.assign(t, assignee="agent.sidorov", actor=AGENT)),
    ])

    outdated = receive(
        "2025-05-05 15:00", Channel.EMAIL, client, "Не приходят уведомления",
        "Push notifications stopped.", product=Product.MOBILE_KEY, product_version="1.0.3",
        device="iPhone 8 / iOS 15",
    )
    play(outdated, [
        Step("2025-05-05 15:20", lambda d, t: d.classify(
            t, level=Level.STANDARD, product=Product.MOBILE_KEY,
            category=Category.OPERATIONAL_FAILURE, actor=AGENT)),
        Step("2025-05-05 15:30", lambda d, t: d.request_information(
            t, text="Can you update to 2.x? 1.0.3 is no longer supported.",
            items=[RequiredInfo.PRODUCT_VERSION], actor=AGENT)),
        Step("2025-05-06 16:00", lambda d, t: d.resume(t, actor=AGENT, note="no answer yet")),
        Step("2025-05-06 16:05", lambda d, t: d.postpone(
            t, reason=PostponeReason.OUTDATED_VERSION, actor=AGENT,
            note="Waiting for the client to update (R2).")),
    ])

    clock.set(msk(now))
    return [emergency, missing_version, consultation, forgotten, outdated]


def format_table(desk: SupportDesk, ticket_ids: list[str], at: datetime) -> str:
    header = (
        f"{'ticket':<11} {'channel':<7} {'level':<12} {'status':<22} "
        f"{'reaction':<9} {'resolution':<10} {'resolution due (MSK)':<20} {'remaining':>9}"
    )
    lines = [f"SLA state as of {at.astimezone(MSK):%Y-%m-%d %H:%M} MSK", header, "-" * len(header)]
    for ticket_id in ticket_ids:
        ticket = desk.get_ticket(ticket_id)
        sla = ticket.sla(at, desk.calendar)
        remaining = sla.resolution.remaining.total_seconds() / 3600
        lines.append(
            f"{ticket.ticket_id:<11} {ticket.channel.value:<7} {sla.level.value:<12} "
            f"{ticket.status.value:<22} {sla.reaction.status.value:<9} "
            f"{sla.resolution.status.value:<10} "
            f"{sla.resolution.due_at.astimezone(MSK):%Y-%m-%d %H:%M}     {remaining:>8.1f}h"
        )
    return "\n".join(lines)


def seed_live_demo(desk: SupportDesk) -> list[str]:
    """A few tickets received in the last hour, for ``serve --demo``; none if the store has any."""
    if desk.recorder.max_notification_id():
        return []
    from datetime import timedelta

    now = desk.clock.now()

    def ago(minutes: int) -> datetime:
        return now - timedelta(minutes=minutes)

    guard = Requester(name="Пост охраны", phone="+7 495 000-00-00", organisation="БЦ Восток")
    client = Requester(name="Ольга Смирнова", email="o.smirnova@example.ru", organisation="ЖК Сосны")
    admin = Requester(name="Игорь", email="igor@example.com")
    emergency = desk.receive(
        channel=Channel.PHONE, requester=guard, subject="Шлагбаум не открывается по пропускам",
        description="No passes open the barrier; the journal shows no visits.",
        product=Product.CONTROL, product_version="3.14.2", actor=AGENT, at=ago(50),
    ).ticket_id
    desk.classify(emergency, level=Level.EMERGENCY, product=Product.CONTROL,
                  category=Category.OPERATIONAL_FAILURE, actor=AGENT, at=ago(45))
    desk.confirm_emergency(emergency, actor=SUPERVISOR, note="whole site blocked", at=ago(44))
    crash = desk.receive(
        channel=Channel.EMAIL, requester=client, subject="Приложение падает при входе",
        description="The app closes right after login.", product=Product.MOBILE_ONLINE,
        actor=SYSTEM, at=ago(40),
    ).ticket_id
    question = desk.receive(
        channel=Channel.FORM, requester=admin, subject="Как выгрузить журнал посетителей?",
        description="How do I export the visitor journal to Excel?", product=Product.ONLINE,
        product_version="2025.4", actor=SYSTEM, at=ago(30),
    ).ticket_id
    desk.classify(question, level=Level.CONSULTATION, product=Product.ONLINE,
                  category=Category.GENERAL_CONSULTATION, actor=AGENT, at=ago(20))
    desk.respond(question, text="See the export guide.",
                 links=["https://docs.pass24online.ru/journal/export"], actor=AGENT, at=ago(19))
    return [emergency, crash, question]
