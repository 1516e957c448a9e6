"""Dashboard queries in reader processes (services/readers.py): the same answers as the
in-process read models at the same moment, and a killed reader does not take them down."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from domain.values import Category, Channel, Level, Product, Requester
from services.bootstrap import Services, build_services
from services.clock import ManualClock
from services.readers import ReaderProcesses
from services.settings import Settings
from tests.helpers import AGENT, SYSTEM, msk, spawned_children

START = msk("2025-05-12 10:00")


@pytest.fixture(params=["sqlite", "postgres"])
def desk_with_tickets(request: pytest.FixtureRequest,
                      tmp_path: Path) -> Iterator[tuple[Services, Settings, ManualClock]]:
    files = {"tokens_file": tmp_path / "tokens.json", "mail_db_path": tmp_path / "mail.sqlite",
             "attachments_dir": tmp_path / "att"}
    if request.param == "sqlite":
        settings = Settings(persistence="sqlite", sqlite_path=tmp_path / "desk.sqlite", **files)
    else:
        env = request.getfixturevalue("postgres_env")
        settings = Settings(persistence="postgres", postgres_dbname=env["POSTGRES_DBNAME"],
                            postgres_host=env["POSTGRES_HOST"],
                            postgres_port=int(env["POSTGRES_PORT"]),
                            postgres_user=env["POSTGRES_USER"],
                            postgres_password=SecretStr(env["POSTGRES_PASSWORD"]), **files)
    clock = ManualClock(START)
    services = build_services(settings, clock=clock)
    desk = services.desk
    levels = [Level.EMERGENCY, Level.STANDARD, Level.CONSULTATION, None]
    for n in range(12):
        clock.advance(timedelta(minutes=37))
        ticket = desk.receive(channel=Channel.EMAIL, subject=f"Заявка {n}", description="Не работает",
                              requester=Requester(name="Ольга", email=f"o{n}@example.ru"),
                              product_version="1.0", actor=SYSTEM).ticket_id
        level = levels[n % 4]
        if level is not None:
            desk.classify(ticket, level=level, product=Product.ONLINE,
                          category=Category.OPERATIONAL_FAILURE, actor=AGENT)
        if n % 3 == 0:
            desk.respond(ticket, text="Ответ", actor=AGENT)
        if n % 5 == 0 and level is not None:
            desk.resolve(ticket, resolution="Готово", actor=AGENT)
    services.runner.catch_up()
    clock.advance(timedelta(days=2))  # some clocks past due now
    try:
        yield services, settings, clock
    finally:
        services.stop()


def _queries(week: datetime) -> list[tuple[str, dict[str, object]]]:
    return [
        ("queue", {}), ("queue", {"level": "standard"}), ("queue", {"limit": 3, "offset": 2}),
        ("queue", {"status": ["new", "open"]}),
        ("sla_timers", {}), ("sla_timers", {"status": "breached"}),
        ("sla_timers", {"status": "on_track", "limit": 2}),
        ("stats", {}), ("stats", {"level": "emergency"}),
        ("stats", {"since": week, "until": week + timedelta(days=7)}),
        ("third_party_letters", {}), ("third_party_letters", {"pending": False}),
    ]


def test_readers_answer_as_the_read_models_do_at_the_same_moment(
        desk_with_tickets: tuple[Services, Settings, ManualClock]) -> None:
    services, settings, clock = desk_with_tickets
    readers = ReaderProcesses(services.read_models, settings, 2)
    try:
        for moment in (clock.now(), clock.now() + timedelta(days=30)):
            clock.set(moment)
            for method, filters in _queries(START - timedelta(days=1)):
                expected = getattr(services.read_models, method)(**filters)
                assert getattr(readers, method)(**filters) == expected, (method, filters)
        assert services.read_models.queue().total == 9  # open ones: the answers are not empty
        assert readers.position() == services.read_models.position() > 0
    finally:
        readers.close()


def test_a_killed_reader_is_replaced_and_the_query_answered(
        desk_with_tickets: tuple[Services, Settings, ManualClock]) -> None:
    services, settings, _ = desk_with_tickets
    readers = ReaderProcesses(services.read_models, settings, 2)
    try:
        expected = services.read_models.queue()
        assert readers.queue() == expected
        deadline = time.monotonic() + 30
        while len(spawned_children(os.getpid())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        before = spawned_children(os.getpid())
        assert len(before) == 2
        os.kill(before[0], signal.SIGKILL)
        time.sleep(0.5)  # the pool notices and breaks
        assert readers.queue() == expected
        assert readers.stats() == services.read_models.stats()
        after = spawned_children(os.getpid())
        assert before[0] not in after and len(after) == 2
    finally:
        readers.close()

