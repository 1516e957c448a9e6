"""The relay's envelopes are the same bytes whether built from the stored JSON or the mapper.

The relay reads plain-JSON stores directly (``envelope.stored_data``) and goes
through the mapper's domain events otherwise (ciphered or compressed stores, and
any event the direct path cannot vouch for). Consumers deduplicate and verify by
these bytes, so both paths must agree exactly, for every event type.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.cipher import AESCipher

from adapters.audit.seal import strip
from adapters.kafka.envelope import Envelope, stored_data
from adapters.kafka.positions import MemoryPositionStore
from adapters.kafka.relay import Relay
from adapters.kafka.schemas import PUBLISHED
from domain.sla import ClockName
from domain.values import Category, Channel, Level, PostponeReason, Product, RequiredInfo
from projections.follower import LogRecord, stores_plain_json
from services.application import SupportDesk
from tests.helpers import AGENT, CLIENT, REQUESTER, SUPERVISOR, SYSTEM, msk

FILE = {"filename": "журнал.png", "content_type": "image/png", "size": 1234,
        "sha256": "a" * 64, "stored": True}


def _relay(desk: SupportDesk) -> Relay:
    def no_producer() -> Any:
        raise AssertionError("these tests never publish")

    return Relay(desk, no_producer, MemoryPositionStore(), topic="ticket-events")


def _long_lifecycle(desk: SupportDesk) -> None:
    """Tickets that between them record every published event type."""
    at = msk("2025-04-28 10:00")
    step = timedelta(minutes=7)

    def t(n: int) -> Any:
        return at + n * step

    first = desk.receive(channel=Channel.EMAIL, requester=CLIENT, subject="Шлагбаум «Север»",
                         description="", actor=REQUESTER, intake_key="<first@x>",
                         contacts=["guard@example.ru"], at=t(0)).ticket_id
    desk.acknowledge(first, actor=SYSTEM, message_id="<ack@desk>", at=t(1))
    desk.classify(first, level=Level.STANDARD, product=Product.CONTROL,
                  category=Category.DEFECT, actor=AGENT, at=t(2))
    desk.assign(first, assignee="agent.kim", actor=SUPERVISOR, at=t(3))
    desk.respond(first, text="Проверьте питание\nконтроллера", links=["https://kb.example/1"],
                 actor=AGENT, at=t(4))
    desk.request_information(first, text="Пришлите журнал", items=[RequiredInfo.DEVICE],
                             actor=AGENT, at=t(5))
    desk.record_requester_reply(first, text="Журнал во вложении", product_version="3.1",
                                device="КПП-2", message_id="<r1@x>", actor=REQUESTER, at=t(6))
    desk.add_attachments(first, source="<r1@x>", attachments=[FILE], actor=REQUESTER, at=t(6))
    desk.add_contact(first, email="chief@example.ru", actor=AGENT, at=t(7))
    desk.record_delivery_failure(first, notice="response", recipient="olga@example.ru",
                                 reason="550 mailbox unavailable", permanent=True,
                                 message_id="<n1@desk>", fallback=[Channel.PHONE],
                                 actor=SYSTEM, at=t(8))
    desk.record_third_party_message_once(first, channel=Channel.EMAIL, intake_key="<tp@y>",
                                         sender="stranger@example.com", text="Тоже не работает",
                                         attachments=[FILE], actor=SYSTEM, at=t(9))
    kept = desk.get_ticket(first).pending_third_party_messages
    desk.accept_third_party_message(first, message_id=kept[0]["message_id"], actor=AGENT, at=t(10))
    desk.reclassify(first, reason="стоит вся площадка", level=Level.EMERGENCY, actor=SUPERVISOR,
                    at=t(11))
    desk.confirm_emergency(first, actor=SUPERVISOR, at=t(12))
    desk.record_sla_alert(first, clock=ClockName.RESOLUTION, breached=False, actor=SYSTEM,
                          at=msk("2025-04-28 18:00"))
    desk.record_sla_alert(first, clock=ClockName.RESOLUTION, breached=True, actor=SYSTEM,
                          at=msk("2025-04-30 18:00"))
    later = msk("2025-05-05 10:00")
    desk.escalate(first, summary="Сбой прошивки", expected_release=date(2025, 5, 20),
                  issue_ref="DEV-42", actor=AGENT, at=later)
    desk.record_fix_release(first, release="3.1.1", notes="исправлено", actor=AGENT,
                            at=later + step)
    desk.postpone(first, reason=PostponeReason.CANNOT_REPRODUCE, note="ждём", actor=AGENT,
                  at=later + 2 * step)
    desk.resume(first, note="воспроизвели", actor=AGENT, at=later + 3 * step)
    desk.resolve(first, resolution="Обновили прошивку", actor=AGENT, at=later + 4 * step)
    desk.reopen(first, reason="снова не открывается", actor=AGENT, at=later + 5 * step)
    desk.resolve(first, resolution="Заменили блок", actor=AGENT, at=later + 6 * step)
    desk.close_ticket(first, note="подтверждено", actor=AGENT, at=later + 7 * step)

    second = desk.receive(channel=Channel.PHONE, requester=CLIENT, subject="Касса",
                          description="Не печатаются пропуска", product=Product.ONLINE,
                          product_version="2025.4", device="Chrome", actor=AGENT, at=t(1)).ticket_id
    desk.record_notice_not_sent(second, reason="нет адреса для уведомления", actor=SYSTEM, at=t(2))
    desk.classify(second, level=Level.EMERGENCY, product=Product.ONLINE,
                  category=Category.OPERATIONAL_FAILURE, actor=AGENT, at=t(3))
    desk.respond(second, text="Ok", actor=AGENT, at=t(4))


def _logged(relay: Relay) -> Iterator[LogRecord]:
    yield from relay.follower.records(0, 100_000)


def _both_ways(relay: Relay, logged: LogRecord) -> tuple[Any, Any]:
    relay.stored_json = True
    direct = relay._message(logged)
    relay.stored_json = False
    mapped = relay._message(logged)
    return direct, mapped


@pytest.fixture
def lifecycle_desk() -> SupportDesk:
    desk = SupportDesk()
    _long_lifecycle(desk)
    return desk


def test_every_event_type_gives_the_same_bytes_from_stored_json_as_through_the_mapper(
    lifecycle_desk: SupportDesk,
) -> None:
    relay = _relay(lifecycle_desk)
    assert relay.stored_json  # the default store keeps plain JSON
    names, published = set(), 0
    for logged in _logged(relay):
        direct, mapped = _both_ways(relay, logged)
        assert direct == mapped, logged.topic
        if direct is None:
            assert logged.topic == "domain.intake:IntakeRecord.Registered"
            continue
        # The direct path was really taken, not fallen back from.
        assert stored_data(strip(logged.state)) is not None
        parsed = Envelope.parse(direct[1])
        assert parsed.sequence == logged.position and direct[0] == parsed.subject.encode()
        names.add(parsed.event_name)
        published += 1
    assert names == set(PUBLISHED), set(PUBLISHED) - names
    assert published >= 28


def test_a_fresh_relay_keys_events_the_same_either_way(lifecycle_desk: SupportDesk) -> None:
    # Ticket IDs come from Received; a relay starting after it looks them up in the store.
    entries = list(_logged(_relay(lifecycle_desk)))
    late = [e for e in entries if e.originator_version > 1]
    direct, mapped = _relay(lifecycle_desk), _relay(lifecycle_desk)
    mapped.stored_json = False
    assert [direct._message(e) for e in late] == [mapped._message(e) for e in late]
    assert direct.keys.lookups == mapped.keys.lookups == 2


def test_a_ciphered_and_compressed_store_goes_through_the_mapper_with_the_same_bytes() -> None:
    desk = SupportDesk({"CIPHER_TOPIC": "eventsourcing.cipher:AESCipher",
                        "CIPHER_KEY": AESCipher.create_key(16),
                        "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"})
    _long_lifecycle(desk)
    relay = _relay(desk)
    assert not relay.stored_json and not stores_plain_json(desk)
    published = 0
    for stored in _logged(relay):
        with pytest.raises(UnicodeDecodeError):
            strip(stored.state).decode()  # not JSON on disk: the direct path cannot read it
        message = relay._message(stored)
        # The stored JSON inside the cipher, read the direct way, gives the same bytes.
        opened = stored._replace(state=desk.mapper.open(stored.state))
        relay.stored_json = True
        assert relay._message(opened) == message
        relay.stored_json = False
        published += message is not None
    assert published >= 28


def _record(topic: str, state: str, version: int = 2) -> LogRecord:
    return LogRecord(7, str(uuid4()), version, topic, state.encode())


_TS = '"timestamp":{"_type_":"datetime_iso","_data_":"2025-04-28T07:00:00.120000+00:00"}'
_AT = '"at":{"_type_":"datetime_iso","_data_":"2025-04-28T10:00:00+03:00"}'
_ACTOR = '"actor":{"kind":"staff","id":"a"}'


@pytest.mark.parametrize(("state", "direct"), [
    ("{" + f'{_TS},{_AT},{_ACTOR},"message_id":"<m@x>"' + "}", True),
    # A moment stored in another offset is given in UTC, as the mapper's path does.
    ('{"timestamp":{"_type_":"datetime_iso","_data_":"2025-04-28T10:00:00+03:00"},'
     f'{_AT},{_ACTOR},"message_id":""' + "}", True),
    # A UUID (another transcoding), a datetime below the top level, an upcast: the mapper.
    ("{" + f'{_TS},{_AT},{_ACTOR},"message_id":"",'
     '"ref":{"_type_":"uuid_hex","_data_":"' + UUID(int=5).hex + '"}}', False),
    ("{" + f'{_TS},{_AT},{_ACTOR},"message_id":"",'
     '"seen":[{"_type_":"datetime_iso","_data_":"2025-04-28T10:00:00+03:00"}]}', False),
    ("{" + f'{_TS},{_AT},{_ACTOR},"message_id":"","class_version":2' + "}", False),
    # What orjson would read otherwise or refuses: parsed by json, as the transcoder does.
    ("{" + f'{_TS},{_AT},{_ACTOR},"message_id":"<m@x>","n":123456789012345678901234' + "}", True),
    ("{" + f'{_TS},{_AT},{_ACTOR},"message_id":"<m@x>","n":[-98765432109876543210],"x":NaN' + "}",
     True),
    # "_type_" as a field's text, and a three-key dict with "_type_": plain data.
    ("{" + f'{_TS},{_AT},{_ACTOR},"message_id":"_type_"' + "}", False),
    ("{" + f'{_TS},{_AT},{_ACTOR},"message_id":"",'
     '"odd":{"_type_":"datetime_iso","_data_":"2025-04-28T10:00:00+03:00","x":1}}', False),
])
def test_what_the_direct_path_cannot_vouch_for_goes_through_the_mapper_with_the_same_bytes(
    state: str, direct: bool,
) -> None:
    desk = SupportDesk()
    relay = _relay(desk)
    record = _record("domain.ticket:Ticket.Acknowledged", state)
    relay.keys.learn(record.originator_id, "P24-AAAAAA")
    assert (stored_data(state.encode()) is not None) is direct
    built, mapped = _both_ways(relay, record)
    assert built == mapped
    assert built is not None and Envelope.parse(built[1]).data["message_id"] in ("<m@x>", "", "_type_")


def test_a_broken_stored_event_fails_the_same_way_on_both_paths() -> None:
    relay = _relay(SupportDesk())
    relay.keys.learn(str(UUID(int=1)), "P24-AAAAAA")
    broken = LogRecord(3, str(UUID(int=1)), 2, "domain.ticket:Ticket.Acknowledged", b'{"timestamp":')
    for stored_json in (True, False):
        relay.stored_json = stored_json
        with pytest.raises(ValueError):
            relay._message(broken)
