"""The CLI as operators and auditors meet it: one-line errors, stores named, tokens, calendar."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.cli import build_parser, commands, main

TICKET = "P24-4K7Q9M"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh directory with the default (relative) settings, as after a checkout."""
    import os

    for key in [k for k in os.environ if k.startswith("PASS24_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PASS24_LOG_FORMAT", "text")
    yield tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def seeded(workdir: Path) -> list[str]:
    from services.bootstrap import build_desk
    from services.demo import seed_live_demo
    from services.settings import Settings

    desk = build_desk(Settings(_env_file=None))
    try:
        return seed_live_demo(desk)
    finally:
        desk.close()


def one_line_error(status: int, err: str, *needles: str) -> None:
    assert status == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if not line.startswith("store: ")]
    lines = [line for line in lines if "read as" not in line]
    assert len(lines) == 1 and lines[0].startswith("pass24-desk: "), err
    for needle in needles:
        assert needle in lines[0], err


# -- user errors: one line, exit 2 -------------------------------------------------------------


def test_user_errors_are_one_line(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = seeded(workdir)
    (workdir / "broken.toml").write_text("levels = [\n", encoding="utf-8")
    (workdir / "typo.toml").write_text("[levles.emergency]\nreaction_hours = 1\n", encoding="utf-8")
    (workdir / "ru-date.toml").write_text("extra_days_off = [31.12.2026]\n", encoding="utf-8")
    cases = [
        (["audit", "replay", "--as-of", "the day before"], ["--as-of", "not a date"]),
        (["show", ids[0], "--at", "someday"], ["--at"]),
        (["show", "P24-ZZZZZZ"], ["P24-ZZZZZZ"]),
        (["audit", "replay", "--policy", "missing.toml"], ["missing.toml", "no such file"]),
        (["audit", "replay", "--policy", "broken.toml"], ["broken.toml", "not valid TOML"]),
        (["audit", "replay", "--policy", "typo.toml"], ["typo.toml", "levles", "unknown key"]),
        (["calendar", "show", "2026", "--file", "ru-date.toml"], ["ru-date.toml", "2026-12-31"]),
        (["audit", "export", "--ticket", "P24-ZZZZZZ"], ["P24-ZZZZZZ"]),
        (["history", "not-an-id"], ["not a ticket ID"]),
        (["token", "revoke", "nobody"], ["nobody"]),
    ]
    for argv, needles in cases:
        one_line_error(*run(capsys, *argv)[::2], *needles)


def test_human_dates_work_where_tracebacks_were(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = seeded(workdir)
    status, out, err = run(capsys, "audit", "replay", "--as-of", "tomorrow", "--format", "jsonl")
    assert status == 0, err
    assert {json.loads(line)["ticket_id"] for line in out.splitlines()} == set(ids)
    assert "(Moscow time)" in err
    status, out, err = run(capsys, "show", ids[0], "--at", "2030-01-01 12:00")
    assert status == 0 and "read as Moscow time" in err
    assert json.loads(out)["id"] == ids[0]


def test_help_lists_every_command(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    every = commands(parser)
    assert {"audit verify", "audit checkpoint", "audit replay", "audit export", "token list",
            "token revoke", "calendar show", "check projections"} <= set(every)
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in every:
        assert f"pass24-desk {command}\n" in text, command
    assert "verify, checkpoint, replay, export" in text


# -- history = the API's history -----------------------------------------------------------------


def test_history_prints_what_the_api_prints(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fastapi.testclient import TestClient

    from services.api import create_app
    from services.api.auth import Role, TokenStore
    from services.bootstrap import build_desk
    from services.settings import Settings

    ids = seeded(workdir)
    status, out, _ = run(capsys, "history", ids[0])
    assert status == 0
    printed = [json.loads(line) for line in out.splitlines()]
    desk = build_desk(Settings(_env_file=None))
    tokens = TokenStore(None)
    token = tokens.issue(Role.AUDITOR, "a")
    client = TestClient(create_app(desk, tokens=tokens))
    served = client.get(f"/tickets/{ids[0]}/history", headers={"Authorization": f"Bearer {token}"})
    desk.close()
    assert printed == served.json()["events"]
    assert len(printed) >= 3


# -- demo data stays out of the real store ---------------------------------------------------------


def test_demo_goes_to_its_own_store(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "demo")
    assert status == 0
    assert (workdir / "var" / "demo.sqlite").exists()
    assert not (workdir / "var" / "pass24-desk.sqlite").exists()
    assert "PASS24_SQLITE_PATH=var/demo.sqlite pass24-desk show P24-" in out
    status, _, _ = run(capsys, "demo", "--into-configured-store")
    assert status == 0 and (workdir / "var" / "pass24-desk.sqlite").exists()


def test_demo_is_refused_in_production(workdir: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"ENVIRONMENT": "production", "FORM_SECRET": "f" * 20,
                       "PHONE_SECRET": "p" * 20, "AUDIT_KEY": "a" * 40}.items():
        monkeypatch.setenv(f"PASS24_{key}", value)
    one_line_error(*run(capsys, "demo")[::2], "production")
    one_line_error(*run(capsys, "serve", "--demo", "--port", "1")[::2], "production")
    assert not (workdir / "var" / "demo.sqlite").exists()


# -- calendar ------------------------------------------------------------------------------------


def test_calendar_show_names_each_exception_and_its_source(workdir: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "calendar", "show", "2026")
    assert status == 0
    assert "247 working days" in out  # the official 2026 production calendar
    assert "  Jan (15): 12 13 14 15 16 19 20 21 22 23 26 27 28 29 30\n" in out
    assert "2026-01-07 Wed  day off      holidays" in out and "Christmas" in out
    (workdir / "decree.toml").write_text(
        "extra_days_off = [2026-06-11]\nextra_working_days = [2026-06-13]\n", encoding="utf-8")
    status, out, _ = run(capsys, "calendar", "show", "2026", "--file", "decree.toml", "--days")
    assert status == 0
    assert "247 working days" in out  # one off, one on
    assert "2026-06-11 Thu  day off      override file decree.toml" in out
    assert "2026-06-13 Sat  working day  override file decree.toml" in out
    assert "  2026-06-13 Sat\n" in out and "  2026-06-11 Thu\n" not in out
    assert "  Jun (21):  1  2  3  4  5  8  9 10 13 15" in out


# -- tokens ----------------------------------------------------------------------------------------


def test_tokens_list_revoke_and_expire(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import datetime, timedelta, timezone

    from services.api.auth import Role, TokenStore

    status, out, _ = run(capsys, "token", "issue", "--role", "auditor", "--name", "olga",
                         "--expires-in", "30d")
    token = out.strip()
    assert status == 0
    store = TokenStore(workdir / "var" / "tokens.json")
    assert store.authenticate(token) is not None
    status, out, _ = run(capsys, "token", "list")
    (record,) = store.records()
    assert record.token_id in out and "olga" in out and record.expires_at in out
    assert token not in out and record.sha256 not in out
    status, out, _ = run(capsys, "token", "revoke", record.token_id)
    assert status == 0 and f"revoked {record.token_id}" in out
    assert store.authenticate(token) is None
    one_line_error(*run(capsys, "token", "issue", "--role", "agent", "--expires-in", "soon")[::2],
                   "--expires-in")
    past = TokenStore(workdir / "t.json")
    old = past.issue(Role.AGENT, "x", expires_in=timedelta(hours=1),
                     now=datetime.now(timezone.utc) - timedelta(hours=2))
    assert past.authenticate(old) is None


def test_demo_tokens_are_reused_not_piled_up(workdir: Path) -> None:
    from services.api.auth import Role
    from services.cli_api import demo_tokens, tokens_for
    from services.settings import Settings

    settings = Settings(_env_file=None)
    first = demo_tokens(settings, tokens_for(settings))
    again = demo_tokens(settings, tokens_for(settings))
    assert first == again
    assert len(tokens_for(settings).records()) == 2
    tokens_for(settings).revoke("demo.agent")
    third = demo_tokens(settings, tokens_for(settings))
    assert third[Role.AGENT] != first[Role.AGENT] and third[Role.SUPERVISOR] == first[Role.SUPERVISOR]
    assert len(tokens_for(settings).records()) == 2


def test_serve_checks_the_port_before_printing_anything(workdir: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        status, out, err = run(capsys, "serve", "--demo", "--port", str(port))
    assert out == ""
    one_line_error(status, err, f"127.0.0.1:{port}", "PASS24_API_PORT")
    assert not (workdir / "var" / "tokens.json").exists()


# -- audit verify cannot say a false OK ----------------------------------------------------------------


def test_verify_names_the_store_and_its_size(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seeded(workdir)
    status, out, _ = run(capsys, "audit", "verify")
    path = (workdir / "var" / "pass24-desk.sqlite").resolve()
    assert status == 0
    with sqlite3.connect(path) as conn:
        (events,) = conn.execute("SELECT count(*) FROM stored_events").fetchone()
    first, second = out.splitlines()
    import re

    assert re.fullmatch(rf"store: sqlite {re.escape(str(path))} \(\d+\.\d KiB, {events} events "
                        r"in the log\)", first), first
    assert second.startswith(f"OK {events} events of ")


def test_verify_refuses_a_store_that_does_not_exist(workdir: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    status, out, err = run(capsys, "audit", "verify")
    one_line_error(status, err, "no event store at", str(workdir / "var" / "pass24-desk.sqlite"))
    assert "OK" not in out and not (workdir / "var").exists()
    (workdir / "empty.sqlite").write_bytes(b"")
    monkeypatch.setenv("PASS24_SQLITE_PATH", "empty.sqlite")
    one_line_error(*run(capsys, "audit", "verify")[::2], "holds no event store")
    monkeypatch.setenv("PASS24_SQLITE_PATH", "other.sqlite")
    for argv in (["audit", "replay"], ["audit", "export", "--ticket", TICKET],
                 ["audit", "checkpoint"]):
        one_line_error(*run(capsys, *argv)[::2], "no event store at")
    assert not (workdir / "other.sqlite").exists()


def test_verify_of_an_unknown_ticket_fails(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seeded(workdir)
    status, out, err = run(capsys, "audit", "verify", "--ticket", "P24-ZZZZZZ")
    one_line_error(status, err, "no ticket P24-ZZZZZZ")
    assert "OK" not in out


def test_a_broken_event_is_named_by_ticket_and_version(workdir: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    ids = seeded(workdir)
    from domain.ids import ticket_uuid

    path = workdir / "var" / "pass24-desk.sqlite"
    with sqlite3.connect(path) as conn:
        (state,) = conn.execute(
            "SELECT state FROM stored_events WHERE originator_id = ? AND originator_version = 2",
            (ticket_uuid(ids[0]).hex,)).fetchone()
        edited = bytes(state).replace(b'"emergency"', b'"standard"')
        assert edited != bytes(state)
        conn.execute("UPDATE stored_events SET state = ? WHERE originator_id = ? AND "
                     "originator_version = 2", (edited, ticket_uuid(ids[0]).hex))
    for argv in (["audit", "verify"], ["audit", "verify", "--ticket", ids[0]]):
        status, out, _ = run(capsys, *argv)
        assert status == 1
        assert "BROKEN after" in out and f"ticket {ids[0]}" in out and "version 2" in out, out


def test_an_unreachable_database_or_an_unwritable_file_is_one_line(
        workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fixtures.mail import free_port

    seeded(workdir)
    status, _, err = run(capsys, "audit", "replay", "--output", str(workdir / "no" / "such" / "dir.csv"))
    assert status == 1 and "Traceback" not in err and "No such file or directory" in err
    monkeypatch.setenv("PASS24_PERSISTENCE", "postgres")
    monkeypatch.setenv("PASS24_POSTGRES_PORT", str(free_port()))
    monkeypatch.setenv("PASS24_POSTGRES_SSLMODE", "disable")
    monkeypatch.setenv("PGSSLMODE", "prefer")  # restored afterwards: the CLI sets it for libpq
    status, _, err = run(capsys, "show", TICKET)
    assert status == 1 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("pass24-desk: PostgreSQL at 127.0.0.1:") and "pass24_desk" in line


def test_a_dropped_read_model_is_recreated_and_refilled_by_rebuild(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/OPERATIONS.md "Read-model schema changes": drop the tables, rebuild."""
    seeded(workdir)
    assert run(capsys, "projections", "rebuild")[0] == 0
    read = workdir / "var" / "pass24-desk.read.sqlite"

    def rows() -> dict[str, list[tuple[object, ...]]]:
        with sqlite3.connect(read) as conn:
            return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall())  # noqa: S608
                    for t in ("rm_queue", "rm_sla_timers", "rm_history", "rm_sla_stats")}

    before = rows()
    assert before["rm_queue"] and before["rm_history"]
    with sqlite3.connect(read) as conn:
        conn.execute("DROP TABLE rm_queue")
        conn.execute("DROP TABLE rm_history")
    assert run(capsys, "projections", "rebuild")[0] == 0
    assert rows() == before
