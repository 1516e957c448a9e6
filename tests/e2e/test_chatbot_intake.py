"""The chat-bot channel (§3.8) over real HTTP: a signed webhook translated into the intake gate."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from adapters.chatbot.http import build_chatbot_router
from domain.values import Channel, Status
from services.application import SupportDesk
from services.channel_policy import ChannelPolicy
from services.clock import ManualClock
from services.intake import IntakeService
from tests.fixtures.http_server import serving
from tests.helpers import msk, webhook_headers

SECRET = "chatbot-secret-0123456789"


@pytest.fixture
def bot() -> Iterator[tuple[str, SupportDesk]]:
    desk = SupportDesk(clock=ManualClock(msk("2025-05-12 10:00")))
    gate = IntakeService(desk, channels=ChannelPolicy(desk.calendar))
    app = FastAPI()
    app.include_router(build_chatbot_router(gate.submit, secret=SECRET,
                                            support_email="support@pass24online.ru"))
    with serving(app) as url:
        yield f"{url}/intake/chatbot/messages", desk


def post(url: str, body: object, secret: str = SECRET) -> httpx.Response:
    raw = json.dumps(body, ensure_ascii=False).encode()
    return httpx.post(url, content=raw, headers={"Content-Type": "application/json",
                                                 **webhook_headers(secret, raw)})


def test_a_chat_becomes_a_ticket_and_its_next_message_threads_onto_it(
    bot: tuple[str, SupportDesk],
) -> None:
    url, desk = bot
    first = post(url, {"message_id": "tg:1", "user": {"name": "Анна", "phone": "+79161112233"},
                       "text": "PASS24.Key версия 2.4.1 не открывает ворота, Pixel 8 Android 14"})
    assert first.status_code == 201, first.text
    ticket_id = first.json()["ticket_id"]
    ticket = desk.get_ticket(ticket_id)
    assert ticket.channel is Channel.CHATBOT and ticket.requester.phone == "+79161112233"
    assert ticket.product_version == "2.4.1"
    assert post(url, {"message_id": "tg:1", "user": {"phone": "+79161112233"},
                      "text": "again"}).json()["outcome"] == "duplicate"
    more = post(url, {"message_id": "tg:2", "user": {"phone": "+7 916 111-22-33"},
                      "ticket_id": ticket_id, "text": "Скриншот прислала"})
    assert more.status_code == 200 and more.json()["outcome"] == "replied"
    other = post(url, {"message_id": "tg:3", "user": {"phone": "+79990000000"},
                       "ticket_id": ticket_id, "text": "Я тоже по этой заявке"})
    assert other.status_code == 202 and other.json()["outcome"] == "third_party"
    assert desk.get_ticket(ticket_id).status in (Status.NEW, Status.WAITING_FOR_REQUESTER)


@pytest.mark.parametrize("secret", ["", "wrong-secret-0123456789"])
def test_unsigned_messages_are_refused(bot: tuple[str, SupportDesk], secret: str) -> None:
    url, desk = bot
    body = {"message_id": "tg:9", "user": {"phone": "+79161112233"}, "text": "hi"}
    response = (post(url, body, secret) if secret else httpx.post(url, json=body))
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert desk.recorder.max_notification_id() in (None, 0)


def test_bad_messages_get_a_problem_naming_the_fields(bot: tuple[str, SupportDesk]) -> None:
    url, _ = bot
    shape = post(url, {"user": {}})
    assert shape.status_code == 422
    assert {e["field"] for e in shape.json()["errors"]} == {"message_id"}
    nobody = post(url, {"message_id": "tg:5", "user": {"name": "?"}, "text": "help"})
    assert nobody.status_code == 422 and nobody.json()["errors"][0]["field"] == "user"


def test_the_bot_is_closed_on_public_holidays_and_points_to_email(
    bot: tuple[str, SupportDesk],
) -> None:
    url, desk = bot
    desk.clock = ManualClock(msk("2025-01-07 12:00"))
    refused = post(url, {"message_id": "tg:7", "user": {"email": "a@b.ru"}, "text": "help"})
    assert refused.status_code == 403
    assert refused.json()["support_email"] == "support@pass24online.ru"
