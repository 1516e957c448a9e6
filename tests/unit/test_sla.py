from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import WorkingCalendar
from domain.errors import InvalidValue
from domain.sla import (
    ClockStatus,
    LevelTerms,
    Pause,
    PauseKind,
    SlaHistory,
    SlaPolicy,
    SlaRules,
    SlaSchedule,
    compute_schedule,
    evaluate,
)
from domain.values import Level
from tests.helpers import MSK, msk

CAL = WorkingCalendar.default()
POLICY = SlaPolicy.regulation_default()
H = timedelta(hours=1)


def schedule(history: SlaHistory, policy: SlaPolicy = POLICY) -> SlaSchedule:
    return compute_schedule(history, policy, CAL)


def test_standard_ticket_targets_24_working_hours_and_breaches_after_5_working_days() -> None:
    s = schedule(SlaHistory(received_at=msk("2025-04-28 10:00"), level=Level.STANDARD))
    assert s.resolution.at_risk_at == msk("2025-04-30 16:00")
    # 1-4 May are days off: Tue 29, Wed 30, Mon 5, Tue 6, Wed 7.
    assert s.resolution.due_at == msk("2025-05-07 10:00")
    assert s.reaction.due_at == msk("2025-04-28 18:00")


def test_emergency_ticket_has_four_working_hours_over_the_weekend() -> None:
    s = schedule(SlaHistory(received_at=msk("2025-04-25 16:00"), level=Level.EMERGENCY))
    assert s.resolution.due_at == msk("2025-04-28 11:00")
    assert s.resolution.at_risk_at == msk("2025-04-28 10:00")
    assert s.reaction.due_at == msk("2025-04-25 17:00")


def test_consultation_deadline_is_the_later_of_target_and_five_days() -> None:
    received = msk("2024-12-23 10:00")
    s = schedule(SlaHistory(received_at=received, level=Level.CONSULTATION))
    target = CAL.add_working_time(received, 48 * H)
    five_days = CAL.add_working_days(received, 5)
    assert s.resolution.due_at == max(target, five_days)
    assert target > five_days  # 48 h of 9-hour days is 5⅓ days


def test_unclassified_ticket_runs_on_the_default_level() -> None:
    received = msk("2025-04-28 10:00")
    assert schedule(SlaHistory(received_at=received)).level is Level.STANDARD


def test_pause_for_the_requester_shifts_due_by_the_paused_working_time() -> None:
    history = (
        SlaHistory(received_at=msk("2025-04-28 10:00"), level=Level.STANDARD)
        .stop_reaction(msk("2025-04-28 11:00"))
        .pause(PauseKind.WAITING_FOR_REQUESTER, msk("2025-04-28 11:00"))
        .unpause(msk("2025-04-29 11:00"))
        .restart_reaction(msk("2025-04-29 11:00"))
    )
    s = schedule(history)
    assert s.resolution.paused == 9 * H
    # 7 May 10:00 + 9 working hours; 8-11 May are days off.
    assert s.resolution.due_at == msk("2025-05-12 10:00")
    assert s.reaction.started_at == msk("2025-04-29 11:00")
    assert s.reaction.due_at == msk("2025-04-30 10:00")


def test_pause_that_starts_after_breach_does_not_unbreach() -> None:
    history = (
        SlaHistory(received_at=msk("2025-04-28 10:00"), level=Level.EMERGENCY)
        .pause(PauseKind.POSTPONED, msk("2025-04-28 15:00"))
        .unpause(msk("2025-04-29 15:00"))
    )
    s = schedule(history)
    assert s.resolution.due_at == msk("2025-04-28 14:00")
    state = evaluate(s, msk("2025-04-29 16:00"), CAL)
    assert state.resolution.status is ClockStatus.BREACHED


def test_open_pause_freezes_the_clock_and_reports_paused() -> None:
    history = SlaHistory(received_at=msk("2025-04-28 10:00"), level=Level.STANDARD).pause(
        PauseKind.WAITING_FOR_RELEASE, msk("2025-04-28 12:00")
    )
    s = schedule(history)
    state = evaluate(s, msk("2025-06-30 12:00"), CAL)
    assert state.resolution.status is ClockStatus.PAUSED
    assert state.resolution.used == 2 * H
    assert state.resolution.remaining == CAL.working_time_between(
        msk("2025-04-28 12:00"), s.resolution.due_at
    )


def test_statuses_move_from_on_track_to_at_risk_to_breached() -> None:
    s = schedule(SlaHistory(received_at=msk("2025-04-28 10:00"), level=Level.STANDARD))
    at = lambda text: evaluate(s, msk(text), CAL).resolution  # noqa: E731
    assert at("2025-04-28 12:00").status is ClockStatus.ON_TRACK
    assert at("2025-04-28 12:00").used == 2 * H
    assert at("2025-04-30 16:00").status is ClockStatus.AT_RISK
    assert at("2025-05-07 10:00").status is ClockStatus.AT_RISK
    late = at("2025-05-07 11:00")
    assert late.status is ClockStatus.BREACHED
    assert late.remaining == -1 * H


def test_resolved_in_time_is_met_and_stays_met() -> None:
    history = SlaHistory(received_at=msk("2025-04-28 10:00"), level=Level.EMERGENCY).resolve(
        msk("2025-04-28 13:00")
    )
    state = evaluate(schedule(history), msk("2025-12-31 12:00"), CAL)
    assert state.resolution.status is ClockStatus.MET
    assert state.reaction.status is ClockStatus.BREACHED  # no reply before the 1 h reaction time
    assert state.resolution.remaining == H


def test_reclassification_recomputes_from_the_original_receipt() -> None:
    history = SlaHistory(received_at=msk("2025-04-28 10:00"), level=Level.STANDARD)
    escalated = schedule(history.with_level(Level.EMERGENCY))
    assert escalated.resolution.started_at == msk("2025-04-28 10:00")
    assert escalated.resolution.due_at == msk("2025-04-28 14:00")


def test_reopen_does_not_count_the_resolved_span_and_restarts_reaction() -> None:
    history = (
        SlaHistory(received_at=msk("2025-04-28 10:00"), level=Level.EMERGENCY)
        .stop_reaction(msk("2025-04-28 10:30"))
        .resolve(msk("2025-04-28 12:00"))
        .reopen(msk("2025-04-29 12:00"))
    )
    s = schedule(history)
    assert s.resolution.stopped_at is None
    assert s.resolution.due_at == msk("2025-04-29 14:00")
    assert s.reaction.started_at == msk("2025-04-29 12:00")


def test_schedule_round_trips_through_its_recorded_form() -> None:
    history = SlaHistory(received_at=msk("2025-04-28 10:00"), level=Level.STANDARD).pause(
        PauseKind.POSTPONED, msk("2025-04-28 12:00")
    )
    s = schedule(history)
    assert SlaSchedule.from_dict(s.as_dict()) == s
    assert s.policy_version == POLICY.version
    assert s.calendar_version == CAL.version


def test_policy_version_names_the_numbers() -> None:
    other = SlaPolicy(
        terms={**POLICY.terms, Level.EMERGENCY: LevelTerms(reaction=H, target=6 * H)}
    )
    assert other.version != POLICY.version
    assert SlaPolicy.regulation_default().version == POLICY.version


def test_policy_refuses_missing_levels_and_bad_ratio() -> None:
    with pytest.raises(InvalidValue):
        SlaPolicy(terms={Level.STANDARD: LevelTerms(reaction=H, target=H)})
    with pytest.raises(InvalidValue):
        SlaPolicy(terms=POLICY.terms, at_risk_ratio=1.5)


def _history(draw: st.DrawFn) -> SlaHistory:
    zone = draw(st.sampled_from([MSK, UTC, timezone(timedelta(hours=5))]))
    received = draw(st.datetimes(min_value=datetime(2024, 12, 20), max_value=datetime(2025, 1, 20)))
    received = received.replace(microsecond=0, tzinfo=zone)
    moments = sorted(received + timedelta(minutes=m) for m in draw(
        st.lists(st.integers(1, 60 * 24 * 20), min_size=0, max_size=8, unique=True)))
    pauses, i = [], 0
    while i + 1 < len(moments):
        pauses.append(Pause(draw(st.sampled_from(list(PauseKind))), moments[i], moments[i + 1]))
        i += 2
    if i < len(moments) and draw(st.booleans()):
        pauses.append(Pause(PauseKind.POSTPONED, moments[i]))
    restart = draw(st.sampled_from([None, *moments]))
    return SlaHistory(received_at=received, level=draw(st.sampled_from([None, *Level])),
                      pauses=tuple(pauses), reaction_started_at=restart,
                      reaction_stopped_at=draw(st.sampled_from([None, *moments])),
                      resolved_at=draw(st.sampled_from([None, *moments])))


@given(st.lists(st.composite(lambda draw: _history(draw))(), min_size=1, max_size=6))
@settings(max_examples=60, deadline=None)
def test_rules_give_the_schedule_computed_afresh_however_often_a_start_recurs(
    histories: list[SlaHistory],
) -> None:
    # SlaRules keeps each clock's pre-pause deadlines per start: asked again, for the
    # same start or the same instant in another zone, it answers what a fresh computation does.
    rules = SlaRules(POLICY, CAL)
    moved = [replace(h, received_at=h.received_at.astimezone(UTC)) for h in histories]
    levels = [replace(h, level=level) for h in histories for level in Level]
    for history in [*histories, *moved, *levels, *histories]:
        assert rules.schedule(history) == compute_schedule(history, POLICY, CAL)
        assert rules.schedule(history).as_dict() == compute_schedule(history, POLICY, CAL).as_dict()
