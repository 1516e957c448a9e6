"""Every letter, for every level, in both languages; the SLA sentences against the policy."""

from __future__ import annotations

from datetime import time, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from email.policy import default
from pathlib import Path

import pytest

from adapters.i18n import gettext, ngettext
from adapters.outbox.notices import TEMPLATES, Notices, NoticeSettings
from adapters.outbox.sla_terms import promise, working_day
from domain.calendar import WorkingCalendar
from domain.sla import LevelTerms, SlaPolicy
from domain.values import Category, Channel, Level, Product, Requester
from services.application import SupportDesk
from services.clock import ManualClock
from tests.helpers import AGENT, CLIENT, msk

LEVELS: list[Level | None] = [None, *Level]
HOUR = timedelta(hours=1)


def hours(n: int, language: str) -> str:
    return ngettext("%(n)d working hour", "%(n)d working hours", n, language) % {"n": n}


def days(n: int, language: str) -> str:
    return ngettext("%(n)d working day", "%(n)d working days", n, language) % {"n": n}


def ticket_at(level: Level | None, *, policy: SlaPolicy | None = None,
              calendar: WorkingCalendar | None = None, product_version: str = "3.14.2") -> tuple[SupportDesk, str]:
    clock = ManualClock(msk("2025-04-28 10:00"))
    desk = SupportDesk(clock=clock, policy=policy or SlaPolicy.regulation_default(),
                       calendar=calendar or WorkingCalendar.default())
    ticket_id = desk.receive(channel=Channel.PHONE, requester=CLIENT, subject="Шлагбаум не открывается",
                             description="С 09:40 пропуска не открывают шлагбаум.",
                             product=Product.CONTROL, product_version=product_version,
                             actor=AGENT).ticket_id
    if level is not None:
        desk.classify(ticket_id, level=level, product=Product.CONTROL, category=Category.DEFECT,
                      actor=AGENT)
    desk.assign(ticket_id, assignee="agent.kim", actor=AGENT)
    return desk, ticket_id


EXTRA = {
    "response": {"text": "Перезагрузите контроллер.", "links": ["https://docs.pass24online.ru/kb/1"]},
    "missing_details": {"text": "Пришлите журнал.", "missing": ["номер версии продукта"]},
    "delivery_failure": {"failure": {"recipient": "olga@example.ru", "reason": "550 5.1.1 no such user",
                                     "permanent": True}, "fallback": ["чат-бот", "телефон"]},
    "staff_alert": {"alert": {"clock": "resolution", "clock_name": "решение", "breached": True,
                              "due_at": "28.04.2025 14:00", "at": "28.04.2025 14:01"},
                    "ticket_url": "https://desk.example/ui/tickets/X"},
}


@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize("level", LEVELS, ids=lambda level: level.value if level else "unclassified")
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_letter_renders_for_every_level_in_both_languages(
        template: str, level: Level | None, language: str) -> None:
    desk, ticket_id = ticket_at(level)
    notices = Notices(NoticeSettings(), desk.policy, desk.calendar)
    letter = notices.render(template, desk.get_ticket(ticket_id), language=language,
                            **EXTRA.get(template, {}))
    assert ticket_id in letter.subject  # R19: the ID in every subject
    assert letter.body.strip() and "{{" not in letter.body and "{%" not in letter.body
    assert "\n\n\n" not in letter.body
    assert "пн–пт" not in letter.body and "Mon–Fri" not in letter.body
    if language == "en":
        assert not any("а" <= ch <= "я" for ch in letter.body.replace("Техподдержка PASS24.online", "")
                       .replace("Шлагбаум не открывается", "").replace("Ольга", "")
                       .replace("С 09:40 пропуска не открывают шлагбаум.", "")
                       .replace("Перезагрузите контроллер.", "").replace("Пришлите журнал.", "")
                       .replace("номер версии продукта", "").replace("чат-бот", "").replace("телефон", "")
                       .replace("решение", "")), letter.body
    if level is not None and template in ("registration", "staff_alert", "delivery_failure"):
        terms = desk.policy.terms[level]
        assert hours(int(terms.reaction / HOUR), language) in letter.body
        assert hours(int(terms.target / HOUR), language) in letter.body


@pytest.mark.parametrize("language", ["ru", "en"])
def test_sla_sentences_follow_the_policy_semantics(language: str) -> None:
    """With deadline days, the target is the aim and the days the deadline, unless the target
    ends later (then the target alone is the deadline): never both when they contradict."""
    desk, ticket_id = ticket_at(None)
    body = Notices(NoticeSettings(), desk.policy, desk.calendar).render(
        "registration", desk.get_ticket(ticket_id), language=language).body
    day = working_day(desk.calendar)
    assert day == 9 * HOUR
    for level in Level:
        terms = desk.policy.terms[level]
        line = next(text for text in body.splitlines()
                    if text.strip().startswith("• " + gettext(level.value, language)))
        assert hours(int(terms.reaction / HOUR), language) in line
        assert hours(int(terms.target / HOUR), language) in line
        latest = "не дольше " if language == "ru" else "at the latest within "
        if terms.deadline_days and terms.target < terms.deadline_days * day:
            # standard: 24 h are the aim, 5 working days the deadline.
            assert latest + days(terms.deadline_days, language) in line, line
        else:
            # Emergency has no day deadline; consultation's 48 h end after 5 days of 9 h, so the
            # 48 h are the deadline (also told in days) and no contradicting day limit is given.
            assert latest not in line, line
            if terms.target >= day:
                whole, rest = divmod(terms.target, day)
                assert days(whole, language) in line and f" {int(rest / HOUR)} " in line, line
    assert "09:00–18:00" in body
    assert ("рабочие субботы учитываются" if language == "ru" else "working Saturdays count") in body


def test_sla_text_is_derived_not_typed() -> None:
    policy = SlaPolicy(terms={
        Level.EMERGENCY: LevelTerms(reaction=2 * HOUR, target=6 * HOUR),
        Level.STANDARD: LevelTerms(reaction=4 * HOUR, target=50 * HOUR, deadline_days=5),
        Level.CONSULTATION: LevelTerms(reaction=8 * HOUR, target=20 * HOUR, deadline_days=3),
    })
    calendar = WorkingCalendar(opens=time(10), closes=time(19))
    desk, ticket_id = ticket_at(None, policy=policy, calendar=calendar)
    body = Notices(NoticeSettings(), policy, calendar).render(
        "registration", desk.get_ticket(ticket_id), language="ru").body
    assert "аварийный: первый ответ — в течение 2 рабочих часов; решение — в течение 6 рабочих часов." in body
    # 50 h run past 5 days of 9 h: the target is the deadline and the days are not promised.
    assert "стандартный: первый ответ — в течение 4 рабочих часов; решение — в течение 50 рабочих часов" \
           " (около 5 рабочих дней 5 ч)." in body
    assert ("консультация: первый ответ — в течение 8 рабочих часов; решение — в течение 20 рабочих часов, "
            "в крайнем случае — не дольше 3 рабочих дней.") in body
    assert "10:00–19:00" in body
    assert promise(policy, Level.STANDARD, calendar).target_is_deadline


def test_a_phone_ticket_without_a_version_is_asked_for_it() -> None:
    desk, ticket_id = ticket_at(None, product_version="")
    ticket = desk.get_ticket(ticket_id)
    mail = Notices(NoticeSettings(from_name="Поддержка PASS24"), desk.policy, desk.calendar).acknowledgement(
        ticket, now=msk("2025-04-28 10:01"))
    assert mail is not None
    message = message_from_bytes(mail.message, policy=default)
    body = message.get_content()
    assert "Чтобы мы могли начать работу" in body and "номер версии продукта" in body
    assert str(make_header(decode_header(message["From"]))) == "Поддержка PASS24 <support@pass24online.ru>"
    assert message["Auto-Submitted"] == "auto-replied"


def test_an_operator_directory_overrides_a_template(tmp_path: Path) -> None:
    (tmp_path / "ru").mkdir()
    (tmp_path / "ru" / "registration.txt.j2").write_text(
        "{% block subject %}Заявка {{ ticket.id }}{% endblock %}"
        "{% block body %}Принято. {{ level_terms.reaction if level_terms else sla[0].sentence }}{% endblock %}",
        encoding="utf-8")
    desk, ticket_id = ticket_at(Level.STANDARD)
    notices = Notices(NoticeSettings(templates_dir=tmp_path), desk.policy, desk.calendar)
    letter = notices.render("registration", desk.get_ticket(ticket_id))
    assert letter.subject == f"Заявка {ticket_id}"
    assert letter.body == "Принято. первый ответ — в течение 8 рабочих часов\n"
    # Templates the operator did not override are still ours.
    assert "Re: [" in notices.render("response", desk.get_ticket(ticket_id), text="x").subject


def test_staff_letters_go_to_each_recipient_once() -> None:
    desk, ticket_id = ticket_at(Level.EMERGENCY)
    notices = Notices(NoticeSettings(), desk.policy, desk.calendar)
    mails = notices.staff_alert(desk.get_ticket(ticket_id), version=9, clock="resolution", breached=False,
                                due_at=msk("2025-04-28 14:00"), at=msk("2025-04-28 13:00"),
                                recipients=["a@example.ru", "b@example.ru", "a@example.ru"])
    assert [m.recipient for m in mails] == ["a@example.ru", "b@example.ru"]
    assert len({m.key for m in mails}) == 2 and all(m.kind == "staff_alert" for m in mails)
    body = message_from_bytes(mails[0].message, policy=default).get_content()
    assert "Под угрозой срок (решение)" in body and "28.04.2025 14:00 МСК" in body


def test_requester_without_email_gets_no_letter() -> None:
    desk, ticket_id = ticket_at(None)
    ticket = desk.get_ticket(ticket_id)
    ticket.requester = Requester(name="Ольга", phone="+7 900 000-00-00")
    assert Notices(NoticeSettings(), desk.policy, desk.calendar).acknowledgement(
        ticket, now=msk("2025-04-28 10:01")) is None
