"""Replay, what-if and export for auditors, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import io
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from domain.calendar import CalendarOverrides, WorkingCalendar
from domain.sla import LevelTerms, SlaPolicy
from domain.values import Level
from services.application import SupportDesk
from services.audit_replay import (
    WhatIf,
    export_ticket,
    outcome_summary,
    replay,
    ticket_ids,
    write_csv,
    write_jsonl,
)
from services.clock import ManualClock
from services.demo import run_demo
from tests.helpers import msk

AS_OF = msk("2025-05-12 12:00")


def _sqlite(tmp_path: Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "d.sqlite")}


def demo_desk(env: dict[str, str]) -> tuple[SupportDesk, list[str]]:
    clock = ManualClock(msk("2025-04-28 09:00"))
    desk = SupportDesk(env=env, clock=clock, rng=random.Random(42))
    return desk, run_demo(desk, clock, run="audit")


@pytest.fixture
def sqlite_demo(tmp_path: Path) -> Iterator[tuple[SupportDesk, list[str]]]:
    desk, ids = demo_desk(_sqlite(tmp_path))
    yield desk, ids
    desk.close()


def jsonl(desk: SupportDesk, **kwargs: object) -> str:
    out = io.StringIO()
    write_jsonl(replay(desk, AS_OF, **kwargs), out)  # type: ignore[arg-type]
    return out.getvalue()


def test_replay_finds_every_ticket_in_order_of_receipt(sqlite_demo: tuple[SupportDesk, list[str]]) -> None:
    desk, ids = sqlite_demo
    assert sorted(ticket_ids(desk)) == sorted(ids)
    results = list(replay(desk, AS_OF))
    assert {r["ticket_id"] for r in results} == set(ids)
    by_id = {r["ticket_id"]: r for r in results}
    forgotten = by_id[ids[3]]  # classified standard, assigned, never answered
    assert forgotten["recorded"]["reaction"]["status"] == "breached"
    assert by_id[ids[0]]["recorded"]["resolution"]["status"] == "met"


def test_replay_is_deterministic_and_identical_on_sqlite_and_postgres(
    tmp_path: Path, postgres_env: dict[str, str]
) -> None:
    first, _ = demo_desk(_sqlite(tmp_path))
    once, twice = jsonl(first), jsonl(first)
    assert once == twice
    second, _ = demo_desk(postgres_env)
    try:
        assert jsonl(second) == once
        csv_a, csv_b = io.StringIO(), io.StringIO()
        write_csv(replay(first, AS_OF), csv_a)
        write_csv(replay(second, AS_OF), csv_b)
        assert csv_a.getvalue() == csv_b.getvalue()
        assert export_ticket(first, ticket_ids(first)[1]) == export_ticket(second, ticket_ids(second)[1])
    finally:
        first.close()
        second.close()


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def test_what_if_a_stricter_policy_shows_new_breaches_without_touching_the_store(
    sqlite_demo: tuple[SupportDesk, list[str]],
) -> None:
    desk, ids = sqlite_demo
    head = desk.recorder.max_notification_id()
    default = SlaPolicy.regulation_default()
    strict = replace(default, name="strict", terms={
        **default.terms,
        Level.EMERGENCY: LevelTerms(reaction=timedelta(minutes=5), target=timedelta(hours=1)),
    })
    results = list(replay(desk, AS_OF, what_if=WhatIf(strict, desk.calendar)))
    emergency = next(r for r in results if r["ticket_id"] == ids[0])
    assert emergency["recorded"]["resolution"]["status"] == "met"
    assert emergency["whatif"]["resolution"]["status"] == "breached"
    assert emergency["changed"] is True
    assert emergency["whatif"]["policy_version"].startswith("strict:")
    summary = outcome_summary(results)
    assert summary["whatif_breached"] > summary["breached"] - 1 and summary["changed"] >= 1
    assert desk.recorder.max_notification_id() == head


def test_what_if_another_calendar_moves_due_instants(sqlite_demo: tuple[SupportDesk, list[str]]) -> None:
    desk, ids = sqlite_demo
    # Suppose 5-8 May 2025 had been days off too: deadlines move later.
    extra = frozenset(msk(f"2025-05-0{d} 12:00").date() for d in (5, 6, 7))
    other = WorkingCalendar(overrides=CalendarOverrides(extra_days_off=extra))
    results = {r["ticket_id"]: r for r in replay(desk, AS_OF, what_if=WhatIf(desk.policy, other))}
    consultation = results[ids[2]]
    assert consultation["whatif"]["calendar_version"] != consultation["recorded"]["calendar_version"]
    forgotten = results[ids[3]]
    assert forgotten["whatif"]["resolution"]["due_at"] > forgotten["recorded"]["resolution"]["due_at"]


def test_as_of_before_receipt_leaves_the_ticket_out(sqlite_demo: tuple[SupportDesk, list[str]]) -> None:
    desk, ids = sqlite_demo
    early = list(replay(desk, msk("2025-04-28 10:30")))
    assert [r["ticket_id"] for r in early] == [ids[0]]
    assert early[0]["status"] == "open" and early[0]["events"] == 5  # ... responded at 10:30


def test_export_explains_every_clock_change(sqlite_demo: tuple[SupportDesk, list[str]]) -> None:
    desk, ids = sqlite_demo
    text = export_ticket(desk, ids[1])  # missing version, reply, escalation, release, resolve
    # Russian by default, Moscow times to the minute, labelled, never an ISO offset or microseconds.
    assert text.startswith(f"Заявка {ids[1]}")
    assert "срок «решение» на паузе с 28.04.2025 11:00 МСК (ждём заявителя)" in text
    assert "срок «решение» снова идёт после паузы" in text
    assert "ждём релиза разработки" in text
    assert "сдвинут с" in text
    assert "срок «решение» остановлен 06.05.2025 10:30 МСК: выполнен" in text
    assert "Уровень SLA: стандартный" in text
    assert "+03:00" not in text and not re.search(r"\d:\d\d\.\d", text)

    english = export_ticket(desk, ids[1], language="en")
    assert english.startswith(f"Ticket {ids[1]}")
    assert "resolution clock paused at 28.04.2025 11:00 MSK (waiting for the requester)" in english
    assert "resolution clock resumed after" in english
    assert "waiting for a development release" in english
    assert "due moved from" in english
    assert "resolution clock stopped at 06.05.2025 10:30 MSK: met" in english
    assert "SLA level standard" in english
