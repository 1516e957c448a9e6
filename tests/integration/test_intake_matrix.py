"""Channel × rule: every intake channel, each rule of the intake gate, against real servers.

Channels: email by SMTP (aiosmtpd listener) and by IMAP (dovecot), the web form, phone
events and the agent's call log, ``POST /tickets`` and the chat-bot webhook (uvicorn on
loopback), and the Kafka intake consumer (Tansu). The desk and its read models are on
PostgreSQL; registration notices go out by SMTP to another aiosmtpd server.

Rules: R6 holiday refusal, R18 registration notice (or why none), R19 threading with and
without a matching sender, idempotency by intake key, and NUL / CR-LF / over-long text.
"""

from __future__ import annotations

import json
import smtplib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from adapters.chatbot.http import build_chatbot_router
from adapters.email.imap_poller import ImapAccount, ImapPoller
from adapters.email.smtp_listener import SmtpListener
from adapters.form.fields import DEFAULT_MAP
from adapters.form.http import build_form_router
from adapters.kafka.clients import KafkaConfig, ensure_topics
from adapters.kafka.intake import IntakeMessage
from adapters.kafka.intake_consumer import IntakeConsumer
from adapters.phone.http import build_phone_router
from domain.intake import IntakeRequest
from domain.values import Actor, Channel, Status
from projections.readmodels import ReadModels
from projections.runner import ProjectionRunner
from projections.system import build_projections
from services.api import create_app
from services.api.auth import Role, TokenStore
from services.application import SupportDesk
from services.clock import ManualClock
from services.intake import FULL_TEXT_NAME
from services.mail import MailComponents, build_mail
from services.settings import Settings
from tests.fixtures.dovecot import ImapServer, start_dovecot
from tests.fixtures.http_server import serving
from tests.fixtures.kafka import KafkaBroker, read_topic
from tests.fixtures.mail import MailCatcher, free_port, plain_letter
from tests.fixtures.postgres import PostgresServer
from tests.helpers import msk, webhook_headers

SECRET = "matrix-secret-0123456789"
WORKDAY = msk("2025-05-12 10:00")
MAY_DAY = msk("2025-05-01 10:00")
CHANNELS = ["smtp", "imap", "form", "phone_event", "phone_log", "api", "kafka", "chatbot"]
EMAIL_CHANNELS = {"smtp", "imap"}  # open on public holidays by default (R6)


@dataclass(frozen=True)
class Spec:
    """One request, before a channel puts it in its own form."""

    key: str
    email: str
    phone: str
    subject: str
    text: str
    name: str = "Ольга"
    ticket_hint: str = ""


@dataclass(frozen=True)
class Answer:
    ticket_id: str | None
    refused: bool = False
    detail: str = ""


@dataclass
class World:
    desk: SupportDesk
    clock: ManualClock
    mail: MailComponents
    catcher: MailCatcher
    url: str
    token: str
    smtp: SmtpListener
    imap: ImapServer
    poller: ImapPoller
    kafka: KafkaConfig
    intake_topic: str
    dlq_topic: str
    consumer: IntakeConsumer
    read_models: ReadModels
    runner: ProjectionRunner

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        raw = json.dumps(body, ensure_ascii=False).encode()
        return httpx.post(f"{self.url}{path}", content=raw, timeout=30, headers={
            "Content-Type": "application/json", **webhook_headers(SECRET, raw)})


# -- the world: real servers, built once for the module ---------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer,
          kafka_broker: KafkaBroker) -> Iterator[World]:
    from aiosmtpd.controller import Controller

    tmp = tmp_path_factory.mktemp("matrix")
    database = f"t_{uuid.uuid4().hex[:12]}"
    env = postgres_server.create_database(database).env()
    catcher = MailCatcher(port=free_port())
    outgoing = Controller(catcher, hostname=catcher.host, port=catcher.port, decode_data=False)
    outgoing.start()
    settings = Settings(persistence="popo", mail_db_path=tmp / "mail.sqlite",
                        attachments_dir=tmp / "attachments", smtp_host=catcher.host,
                        smtp_port=catcher.port, form_secret=SecretStr(SECRET),
                        phone_secret=SecretStr(SECRET), chatbot_secret=SecretStr(SECRET))
    clock = ManualClock(WORKDAY)
    desk = SupportDesk(env=env, clock=clock)
    read_models, runner = build_projections(desk, calendar=desk.calendar, clock=clock, env=env)
    mail = build_mail(desk, settings)
    gate, email = mail.gate.submit, settings.support_email
    tokens = TokenStore(None)
    token = tokens.issue(Role.INTEGRATION, "crm")
    app = create_app(desk, tokens=tokens, gate=mail.gate, extra_routers=[
        build_form_router(gate, secret=SECRET, support_email=email, field_map=DEFAULT_MAP),
        build_phone_router(gate, secret=SECRET, support_email=email),
        build_chatbot_router(gate, secret=SECRET, support_email=email),
    ])
    smtp = SmtpListener(mail.intake, host="127.0.0.1", port=free_port(),
                        accept_domains=["pass24online.ru"])
    smtp.start()
    kafka = kafka_broker.config()
    suffix = uuid.uuid4().hex[:8]
    intake_topic, dlq_topic = f"matrix-intake-{suffix}", f"matrix-dlq-{suffix}"
    ensure_topics(kafka, [intake_topic, dlq_topic], partitions=2)
    consumer = IntakeConsumer(gate, kafka.consumer(intake_topic, group_id=f"g-{suffix}"),
                              kafka.producer(), dlq_topic=dlq_topic, retry_pause=0.2)
    stop = threading.Event()
    consuming = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    consuming.start()
    with start_dovecot() as imap, serving(app) as url:
        poller = ImapPoller(ImapAccount(host=imap.host, port=imap.port, username=imap.username,
                                        password=imap.password, use_ssl=False), mail.intake)
        yield World(desk, clock, mail, catcher, url, token, smtp, imap, poller, kafka,
                    intake_topic, dlq_topic, consumer, read_models, runner)
    stop.set()
    consuming.join(15)
    consumer.consumer.close()
    consumer.dlq.close()
    smtp.stop()
    outgoing.stop()
    read_models.store.close()
    desk.close()
    postgres_server.drop_database(database)


@pytest.fixture(autouse=True)
def workday(world: World) -> Iterator[None]:
    world.clock.set(WORKDAY)
    yield
    world.clock.set(WORKDAY)


# -- each channel, as its own client would use it ------------------------------------------


def _http(response: httpx.Response) -> Answer:
    body = response.json()
    if response.status_code == 403:
        return Answer(None, refused=True, detail=body["detail"])
    assert response.status_code in (200, 201, 202), response.text
    return Answer(body.get("ticket_id") or body.get("id"))


def _smtp(w: World, s: Spec) -> Answer:
    raw = plain_letter(message_id=s.key, subject=s.subject, text=s.text,
                       sender=f"{s.name} <{s.email}>")
    with smtplib.SMTP("127.0.0.1", w.smtp.port, timeout=30) as client:
        client.sendmail(s.email, ["support@pass24online.ru"], raw)
    return Answer(w.desk.ticket_for_intake_key(Channel.EMAIL, s.key))


def _imap(w: World, s: Spec) -> Answer:
    w.imap.append(plain_letter(message_id=s.key, subject=s.subject, text=s.text,
                               sender=f"{s.name} <{s.email}>"))
    (delivery,) = w.poller.poll_once()
    return Answer(delivery.ticket_id, detail=delivery.outcome.value)


def _form(w: World, s: Spec) -> Answer:
    return _http(w.post("/intake/form", {
        "submission_id": s.key, "name": s.name, "email": s.email, "phone": s.phone,
        "subject": s.subject, "description": s.text}))


def _phone_event(w: World, s: Spec) -> Answer:
    return _http(w.post("/intake/phone/events", {
        "event": "incoming", "call_id": s.key, "caller": s.phone, "ticket_id": s.ticket_hint}))


def _phone_log(w: World, s: Spec) -> Answer:
    return _http(w.post("/intake/phone/calls", {
        "call_id": s.key, "agent": "agent.ivanova", "caller_phone": s.phone,
        "caller_name": s.name, "email": s.email, "subject": s.subject, "description": s.text}))


def _api(w: World, s: Spec) -> Answer:
    return _http(httpx.post(f"{w.url}/tickets", timeout=30, headers={
        "Authorization": f"Bearer {w.token}"}, json={
        "channel": "form", "intake_key": s.key, "subject": s.subject, "description": s.text,
        "requester": {"name": s.name, "email": s.email, "phone": s.phone}}))


def _kafka(w: World, s: Spec) -> Answer:
    message = IntakeMessage.model_validate({
        "intake_key": s.key, "channel": "form", "integration": "bitrix24",
        "requester": {"name": s.name, "email": s.email, "phone": s.phone},
        "subject": s.subject, "body": s.text, "received_at": w.clock.now().isoformat()})
    before = w.consumer.stats.dead_lettered
    producer = w.kafka.producer()
    producer.send(w.intake_topic, key=s.key.encode(), value=message.encode())
    producer.flush()
    producer.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ticket_id = w.desk.ticket_for_intake_key(Channel.FORM, s.key)
        if ticket_id is not None:
            time.sleep(0.3)  # let a threaded message's save finish before the test reads
            return Answer(ticket_id)
        if w.consumer.stats.dead_lettered > before:
            dead = [r for r in read_topic(w.kafka, w.dlq_topic, expect=1)
                    if r.key == s.key.encode()]
            return Answer(None, refused=True, detail=dict(dead[-1].headers)["dlq.reason"].decode())
        time.sleep(0.1)
    raise AssertionError("the intake consumer did not handle the message")


def _chatbot(w: World, s: Spec) -> Answer:
    return _http(w.post("/intake/chatbot/messages", {
        "message_id": s.key, "user": {"name": s.name, "email": s.email, "phone": s.phone},
        "subject": s.subject, "text": s.text, "ticket_id": s.ticket_hint}))


SEND: dict[str, Callable[[World, Spec], Answer]] = {
    "smtp": _smtp, "imap": _imap, "form": _form, "phone_event": _phone_event,
    "phone_log": _phone_log, "api": _api, "kafka": _kafka, "chatbot": _chatbot}
NOTICE_BY_MAIL = {"smtp", "imap", "form", "api", "kafka", "chatbot"}
NOTICE_BY_VOICE = {"phone_log"}  # the agent told the caller the ID during the call


def spec(channel: str, **fields: Any) -> Spec:
    n = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "key": f"<{n}@client.example>" if channel in EMAIL_CHANNELS else f"{channel}-{n}",
        "email": f"olga.{n}@client.example", "phone": f"+7 916 {int(n[:7], 16) % 10**7:07d}",
        "subject": "Не печатает пропуск", "text": "PASS24.online версия 5.12: ошибка при печати"}
    values.update(fields)
    return Spec(**values)


def events(w: World, ticket_id: str) -> list[str]:
    return [type(e).__qualname__.removeprefix("Ticket.") for e in w.desk.ticket_events(ticket_id)]


# -- the matrix --------------------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_holiday_refusal(world: World, channel: str) -> None:
    world.clock.set(MAY_DAY)
    request = spec(channel)
    answer = SEND[channel](world, request)
    if channel in EMAIL_CHANNELS:  # R6: email is the channel that stays open
        assert answer.ticket_id is not None and not answer.refused
        return
    assert answer.refused and answer.ticket_id is None
    assert "support@pass24online.ru" in answer.detail and "2025-05-01" in answer.detail
    assert world.desk.ticket_for_intake_key(Channel.FORM, request.key) is None
    assert world.desk.ticket_for_intake_key(Channel.PHONE, request.key) is None


@pytest.mark.parametrize("channel", CHANNELS)
def test_registration_notice(world: World, channel: str) -> None:
    request = spec(channel)
    ticket_id = SEND[channel](world, request).ticket_id
    assert ticket_id is not None
    for _ in range(2):  # the follower twice: still one notice (its position is kept)
        world.mail.mailer.run_once(limit=10_000)
        world.mail.worker.run_once(limit=500)
    ticket = world.desk.get_ticket(ticket_id)
    if channel in NOTICE_BY_MAIL:
        (notice,) = world.catcher.to(request.email)
        assert ticket_id in str(notice.message["Subject"])
        assert ticket.acknowledged_at is not None  # only once the SMTP server took it
    elif channel in NOTICE_BY_VOICE:
        assert world.catcher.to(request.email) == [] and ticket.acknowledged_at is not None
    else:
        assert "NoticeNotSent" in events(world, ticket_id) and ticket.acknowledged_at is None
    assert events(world, ticket_id).count("Acknowledged") + events(world, ticket_id).count(
        "NoticeNotSent") == 1


def _existing_ticket(world: World) -> tuple[str, Spec]:
    """A ticket whose requester has both an email address and a phone number."""
    owner = spec("base")
    outcome = world.mail.gate.submit(IntakeRequest(
        channel=Channel.EMAIL, intake_key=owner.key, actor=Actor.requester(owner.email),
        name=owner.name, email=owner.email, phone=owner.phone, subject=owner.subject,
        text=owner.text))
    assert outcome.ticket_id
    return outcome.ticket_id, owner


@pytest.mark.parametrize("channel", CHANNELS)
def test_threading_with_a_matching_sender(world: World, channel: str) -> None:
    ticket_id, owner = _existing_ticket(world)
    reply = spec(channel, email=owner.email, phone=owner.phone, ticket_hint=ticket_id,
                 subject=f"Re: [{ticket_id}] Не печатает пропуск", text="Версия 5.13, то же самое")
    answer = SEND[channel](world, reply)
    assert answer.ticket_id == ticket_id
    assert events(world, ticket_id)[-1] in ("RequesterReplied", "AttachmentsAdded")
    assert "RequesterReplied" in events(world, ticket_id)


@pytest.mark.parametrize("channel", CHANNELS)
def test_threading_without_a_matching_sender(world: World, channel: str) -> None:
    ticket_id, _ = _existing_ticket(world)
    before = world.desk.get_ticket(ticket_id)
    stranger = spec(channel, name="Mallory", ticket_hint=ticket_id,
                    subject=f"Re: [{ticket_id}] счёт", text="Оплатите счёт во вложении")
    answer = SEND[channel](world, stranger)
    assert answer.ticket_id == ticket_id
    after = world.desk.get_ticket(ticket_id)
    assert events(world, ticket_id)[-1] == "ThirdPartyMessageReceived"
    assert "RequesterReplied" not in events(world, ticket_id)
    assert after.status is before.status and after.schedule == before.schedule
    assert len(after.pending_third_party_messages) == 1


@pytest.mark.parametrize("channel", CHANNELS)
def test_idempotency(world: World, channel: str) -> None:
    request = spec(channel)
    first = SEND[channel](world, request)
    if channel == "imap":  # the same letter in the mailbox again (e.g. copied back by a rule)
        again = SEND[channel](world, request)
        assert again.detail == "duplicate"
    else:
        again = SEND[channel](world, request)
    assert first.ticket_id is not None and again.ticket_id == first.ticket_id
    assert events(world, first.ticket_id).count("Received") == 1


@pytest.mark.parametrize("channel", CHANNELS)
def test_nul_crlf_and_over_long_text(world: World, channel: str) -> None:
    # Letters get CR-LF line ends from the letter builder, as SMTP has them anyway.
    eol = "\n" if channel in EMAIL_CHANNELS else "\r\n"
    # An IMAP server cannot hold a NUL in a message (RFC 3501; dovecot turns it into 0x80),
    # so by IMAP the NUL comes in the (encoded) subject only.
    nul = "" if channel == "imap" else "\x00"
    long_text = f"строка{nul} 1{eol}строка 2{eol}" + ("я" * 99 + eol) * 1_500
    request = spec(channel, subject="Шлагбаум\x00 не\r\n открывается", text=long_text,
                   phone="+7 916\x00 555-12-34\r\n")
    answer = SEND[channel](world, request)
    assert answer.ticket_id is not None, answer
    ticket = world.desk.get_ticket(answer.ticket_id)
    if channel == "phone_event":  # no free text: the caller's number and the subject made of it
        assert ticket.requester.phone == "+7 916 555-12-34"
        assert ticket.subject == "Звонок с номера +7 916 555-12-34"
    else:
        assert ticket.subject == "Шлагбаум не открывается"
        assert ticket.description.startswith("строка 1\nстрока 2\nяяя")
        assert "\x00" not in ticket.description and "\r" not in ticket.description
        assert len(ticket.description) <= 100_000 and "Text truncated" in ticket.description
        full = [a for a in ticket.attachments if a["filename"] == FULL_TEXT_NAME]
        assert len(full) == 1 and full[0]["size"] > 150_000
        kept = world.mail.attachments.read(full[0]["sha256"]).decode()
        assert kept.count("я" * 99) == 1_500 and "\x00" not in kept
    # the read models on PostgreSQL take it and keep going
    world.runner.catch_up()
    assert world.read_models.history(answer.ticket_id).total >= 1
    assert world.desk.get_ticket(answer.ticket_id).status in (Status.NEW,
                                                               Status.WAITING_FOR_REQUESTER)
