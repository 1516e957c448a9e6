"""Form and phone intake over real HTTP (uvicorn on loopback): tickets, signatures, problems, R6."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from adapters.email.http import build_quarantine_router
from adapters.form.fields import DEFAULT_MAP
from adapters.form.http import build_form_router
from adapters.phone.http import build_phone_router
from adapters.signing import signed_headers
from domain.values import Channel, Product
from services.application import SupportDesk
from services.clock import ManualClock
from services.mail import MailComponents, build_mail
from services.settings import Settings
from tests.fixtures.http_server import serving
from tests.fixtures.mail import MailCatcher, mail_catcher  # noqa: F401
from tests.helpers import msk

FORM_SECRET = "form-secret-0123456789"
PHONE_SECRET = "phone-secret-0123456789"
WORKDAY = msk("2025-05-12 10:00")
MAY_DAY = msk("2025-05-01 10:00")


@dataclass
class Stack:
    url: str
    desk: SupportDesk
    clock: ManualClock
    mail: MailComponents


@pytest.fixture
def stack(tmp_path: Path, mail_catcher: MailCatcher) -> Iterator[Stack]:  # noqa: F811
    settings = Settings(persistence="sqlite", sqlite_path=tmp_path / "desk.sqlite",
                        mail_db_path=tmp_path / "mail.sqlite", attachments_dir=tmp_path / "att",
                        form_secret=SecretStr(FORM_SECRET), phone_secret=SecretStr(PHONE_SECRET),
                        smtp_host=mail_catcher.host, smtp_port=mail_catcher.port)
    clock = ManualClock(WORKDAY)
    desk = SupportDesk(env=settings.eventsourcing_env(), clock=clock)
    mail = build_mail(desk, settings)
    app = FastAPI()
    email = settings.support_email
    app.include_router(build_form_router(mail.gate.submit, secret=FORM_SECRET, support_email=email,
                                         field_map=DEFAULT_MAP))
    app.include_router(build_phone_router(mail.gate.submit, secret=PHONE_SECRET,
                                          support_email=email))
    app.include_router(build_quarantine_router(mail.quarantine))
    with serving(app) as url:
        yield Stack(url, desk, clock, mail)
    desk.close()


def signed(body: dict[str, object], secret: str, now: float | None = None) -> dict[str, object]:
    raw = json.dumps(body, ensure_ascii=False).encode()
    return {"content": raw, "headers": {"Content-Type": "application/json",
                                        **signed_headers(secret, raw, now)}}


def test_bitrix24_webhook_with_hmac_becomes_a_form_ticket_and_is_acknowledged_by_mail(
    stack: Stack, mail_catcher: MailCatcher,  # noqa: F811
) -> None:
    body = {"fields": {"NAME": "Ольга", "EMAIL": "olga@example.ru", "TITLE": "Не печатает пропуск",
                       "COMMENTS": "PASS24.online версия 5.12, ошибка при печати"},
            "FORM_RESULT_ID": "bx-1001"}
    response = httpx.post(f"{stack.url}/intake/form", **signed(body, FORM_SECRET))  # type: ignore[arg-type]
    assert response.status_code == 201, response.text
    ticket_id = response.json()["ticket_id"]
    ticket = stack.desk.get_ticket(ticket_id)
    assert ticket.channel is Channel.FORM and ticket.product is Product.ONLINE
    assert ticket.product_version == "5.12" and ticket.requester.name == "Ольга"
    # The sender retries, signing anew (the same signature twice would be a replay).
    again = httpx.post(f"{stack.url}/intake/form",
                       **signed(body, FORM_SECRET, time.time() + 1))  # type: ignore[arg-type]
    assert again.status_code == 200
    assert again.json() == {"ticket_id": ticket_id, "created": False, "outcome": "duplicate"}
    stack.mail.mailer.run_once()  # the registration notice follows Received, for every channel
    stack.mail.worker.run_once()
    (notice,) = mail_catcher.to("olga@example.ru")
    assert ticket_id in str(notice.message["Subject"])
    assert stack.desk.get_ticket(ticket_id).acknowledged_at is not None


def test_urlencoded_bitrix_post_with_the_application_token(stack: Stack) -> None:
    response = httpx.post(f"{stack.url}/intake/form", data={
        "auth[application_token]": FORM_SECRET, "name": "Иван", "phone": "+7 900 123-45-67",
        "subject": "СКУД", "description": "Контроллер не отвечает"})
    assert response.status_code == 201, response.text
    ticket = stack.desk.get_ticket(response.json()["ticket_id"])
    assert ticket.requester.phone == "+7 900 123-45-67" and ticket.product is Product.CONTROL


def test_the_served_html_form_posts_a_ticket(stack: Stack) -> None:
    page = httpx.get(f"{stack.url}/intake/form")
    assert page.status_code == 200 and "<form" in page.text
    hidden = dict(re.findall(r'name="(form_token|submission_id)" value="([^"]+)"', page.text))
    form = {**hidden, "name": "Анна", "email": "anna@example.com", "product": "mobile_pass24_key",
            "product_version": "2.4.1", "device": "Pixel 8, Android 14", "subject": "Ключ",
            "description": "Не открывает ворота"}
    response = httpx.post(f"{stack.url}/intake/form", data=form, headers={"Accept": "text/html"})
    assert response.status_code == 201
    ticket_id = re.search(r"P24-[0-9A-Z]{6}", response.text)
    assert ticket_id is not None
    ticket = stack.desk.get_ticket(ticket_id.group(0))
    assert ticket.product is Product.MOBILE_KEY and ticket.missing == ()
    assert httpx.post(f"{stack.url}/intake/form", data=form).json()["created"] is False


def test_validation_problems_name_every_field(stack: Stack) -> None:
    body = {"email": "not-an-email", "phone": "abc", "name": "x" * 300}
    response = httpx.post(f"{stack.url}/intake/form", **signed(body, FORM_SECRET))  # type: ignore[arg-type]
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert {"type", "title", "status", "detail", "errors"} <= problem.keys()
    # an over-long name is cut to the limit, not refused; what cannot be cut is named
    assert {e["field"] for e in problem["errors"]} == {"email", "phone", "description"}


@pytest.mark.parametrize("headers", [{}, {"X-Pass24-Signature": "sha256=" + "0" * 64},
                                     {"X-Pass24-Secret": "wrong"}])
def test_unsigned_or_badly_signed_posts_are_refused(stack: Stack, headers: dict[str, str]) -> None:
    response = httpx.post(f"{stack.url}/intake/form", json={"email": "a@b.ru", "subject": "x"},
                          headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert stack.desk.recorder.max_notification_id() in (None, 0)


def test_on_a_public_holiday_form_and_phone_refuse_and_point_to_email(stack: Stack) -> None:
    stack.clock.set(MAY_DAY)
    form = httpx.post(f"{stack.url}/intake/form", **signed(  # type: ignore[arg-type]
        {"email": "a@b.ru", "subject": "x"}, FORM_SECRET))
    call = httpx.post(f"{stack.url}/intake/phone/events", **signed(  # type: ignore[arg-type]
        {"event": "incoming", "call_id": "c-hol", "caller": "+79001234567"}, PHONE_SECRET))
    for response in (form, call):
        assert response.status_code == 403
        assert "support@pass24online.ru" in response.json()["detail"]
    assert stack.mail.gate.channels.refusals == {"form": 1, "phone": 1}
    assert stack.desk.recorder.max_notification_id() in (None, 0)


def test_phone_call_events_make_one_ticket_per_call_and_the_agent_acknowledges(stack: Stack) -> None:
    url = f"{stack.url}/intake/phone/events"
    first = httpx.post(url, **signed({"event": "incoming", "call_id": "call-77",  # type: ignore[arg-type]
                                      "caller": "+7 (916) 000-11-22"}, PHONE_SECRET))
    assert first.status_code == 201
    ticket_id = first.json()["ticket_id"]
    # A repeated event is the telephony's retry: signed anew (a second later).
    for n, event in enumerate(("answered", "ended", "ended")):
        again = httpx.post(url, **signed({"event": event, "call_id": "call-77",  # type: ignore[arg-type]
                                          "caller": "+7 (916) 000-11-22", "agent": "agent.ivanova"},
                                         PHONE_SECRET, time.time() + n))
        assert again.status_code == 200 and again.json()["ticket_id"] == ticket_id
    ticket = stack.desk.get_ticket(ticket_id)
    assert ticket.channel is Channel.PHONE and ticket.requester.phone == "+7 (916) 000-11-22"
    assert ticket.acknowledged_at is not None
    # the agent logs the same call with details: same ticket, notes added once
    log = {"call_id": "call-77", "agent": "agent.ivanova", "caller_phone": "+7 (916) 000-11-22",
           "subject": "Не работает PASS24.Key", "description": "Версия 2.4.0, iPhone 12, iOS 16.1"}
    for n in range(2):
        logged = httpx.post(f"{stack.url}/intake/phone/calls",
                            **signed(log, PHONE_SECRET, time.time() + n))  # type: ignore[arg-type]
        assert logged.status_code == 200 and logged.json()["ticket_id"] == ticket_id
    ticket = stack.desk.get_ticket(ticket_id)
    assert ticket.product_version == "2.4.0" and ticket.device == "iPhone 12, iOS 16.1"
    names = [type(e).__qualname__ for e in stack.desk.ticket_events(ticket_id)]
    assert names.count("Ticket.RequesterReplied") == 1


def test_a_call_naming_an_existing_ticket_is_linked_to_it(stack: Stack) -> None:
    log = {"call_id": "call-1", "agent": "agent.petrov", "caller_phone": "+79001112233",
           "caller_name": "Пётр", "subject": "СКУД", "description": "Не пускает"}
    ticket_id = httpx.post(f"{stack.url}/intake/phone/calls",
                           **signed(log, PHONE_SECRET)).json()["ticket_id"]  # type: ignore[arg-type]
    linked = httpx.post(f"{stack.url}/intake/phone/events", **signed(  # type: ignore[arg-type]
        {"event": "incoming", "call_id": "call-2", "caller": "+79001112233",
         "ticket_id": ticket_id.lower()}, PHONE_SECRET))
    assert linked.json()["ticket_id"] == ticket_id
    assert "Ticket.RequesterReplied" in [type(e).__qualname__ for e in stack.desk.ticket_events(ticket_id)]


def test_phone_validation_problems_name_the_fields(stack: Stack) -> None:
    response = httpx.post(f"{stack.url}/intake/phone/events", **signed(  # type: ignore[arg-type]
        {"event": "ringing", "caller": "x"}, PHONE_SECRET))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in response.json()["errors"]} == {"event", "call_id"}
    # the number itself is checked by the intake gate, with the same rule as every channel
    bad_number = httpx.post(f"{stack.url}/intake/phone/events", **signed(  # type: ignore[arg-type]
        {"event": "incoming", "call_id": "c-x", "caller": "x"}, PHONE_SECRET))
    assert bad_number.status_code == 422
    assert [e["field"] for e in bad_number.json()["errors"]] == ["caller"]


def test_quarantine_is_visible_over_http(stack: Stack) -> None:
    stack.mail.intake.deliver(b"To: support@pass24online.ru\r\nSubject: x\r\n\r\nno sender")
    listing = httpx.get(f"{stack.url}/intake/quarantine").json()
    assert listing["total"] == 1 and "no sender" in listing["items"][0]["reason"]
    entry = httpx.get(f"{stack.url}/intake/quarantine/{listing['items'][0]['id']}").json()
    assert "no sender" in entry["raw"]
    raw = httpx.get(f"{stack.url}/intake/quarantine/{listing['items'][0]['id']}/raw")
    assert raw.content.endswith(b"no sender")
    missing = httpx.get(f"{stack.url}/intake/quarantine/999")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


def test_a_person_at_the_form_page_gets_the_refusal_as_a_page(stack: Stack) -> None:
    page = httpx.get(f"{stack.url}/intake/form")
    hidden = dict(re.findall(r'name="(form_token|submission_id)" value="([^"]+)"', page.text))
    stack.clock.set(MAY_DAY)
    refused = httpx.post(f"{stack.url}/intake/form", headers={"Accept": "text/html"},
                         data={**hidden, "email": "anna@example.com", "subject": "Ключ"})
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
    assert "support@pass24online.ru" in refused.text and "2025-05-01" in refused.text


def test_the_form_and_its_answers_speak_russian_first_english_on_request(stack: Stack) -> None:
    page = httpx.get(f"{stack.url}/intake/form")
    assert "Заявка в техподдержку" in page.text and "мобильное приложение PASS24.key" in page.text
    english = httpx.get(f"{stack.url}/intake/form", params={"lang": "en"})
    assert "Request to technical support" in english.text and 'name="lang" value="en"' in english.text
    hidden = dict(re.findall(r'name="(form_token|submission_id|lang)" value="([^"]+)"', english.text))
    # No way to reach the requester: a person gets a page saying so, in their language.
    refused = httpx.post(f"{stack.url}/intake/form", headers={"Accept": "text/html"},
                         data={**hidden, "name": "Anna", "subject": "Key", "description": "Gate"})
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("text/html")
    assert "The request was not accepted" in refused.text
    assert "give an email address or a phone number" in refused.text and "/intake/form?lang=en" in refused.text
    hidden = dict(re.findall(r'name="(form_token|submission_id)" value="([^"]+)"',
                             httpx.get(f"{stack.url}/intake/form").text))
    refused = httpx.post(f"{stack.url}/intake/form", headers={"Accept": "text/html"},
                         data={**hidden, "name": "Анна", "subject": "Ключ", "description": "Ворота"})
    assert "Заявка не принята" in refused.text and "укажите адрес электронной почты или телефон" in refused.text
    thanks = httpx.post(f"{stack.url}/intake/form", headers={"Accept": "text/html"},
                        data={**hidden, "name": "Анна", "phone": "+7 900 123-45-67", "subject": "Ключ",
                              "description": "Ворота"})
    assert thanks.status_code == 201 and "Заявка зарегистрирована, номер" in thanks.text
