"""`pass24-desk audit replay|export` from the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from services.cli import main
from services.demo import run_demo
from services.application import SupportDesk
from services.clock import ManualClock
from tests.helpers import msk


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    path = tmp_path / "desk.sqlite"
    monkeypatch.setenv("PASS24_SQLITE_PATH", str(path))
    clock = ManualClock(msk("2025-04-28 09:00"))
    desk = SupportDesk(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)},
                       clock=clock)
    ids = run_demo(desk, clock, run="cli")
    desk.close()
    return ids


def test_replay_what_if_and_export_from_the_cli(store: list[str], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "strict.toml"
    policy.write_text("[levels.emergency]\nreaction_hours = 0.1\ntarget_hours = 1\n", encoding="utf-8")
    out = tmp_path / "replay.jsonl"
    assert main(["audit", "replay", "--as-of", "2025-05-12T12:00:00+03:00", "--policy", str(policy),
                 "--format", "jsonl", "--output", str(out), "--progress"]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {r["ticket_id"] for r in rows} == set(store)
    assert [r["ticket_id"] for r in rows if r["changed"]] == [store[0]]
    err = capsys.readouterr().err
    # Progress counts log positions (tickets are found in the same single pass).
    assert re.search(r"\] (\d+)/\1\n", err) and "5 tickets as of" in err
    assert "1 with a different outcome" in err

    again = tmp_path / "again.jsonl"
    main(["audit", "replay", "--as-of", "2025-05-12T12:00:00+03:00", "--policy", str(policy),
          "--format", "jsonl", "--output", str(again), "--no-progress"])
    assert again.read_bytes() == out.read_bytes()

    assert main(["audit", "export", "--ticket", store[4]]) == 0
    text = capsys.readouterr().out
    assert "Отложена" in text and "на паузе с 06.05.2025 16:05 МСК (отложена)" in text

    page = tmp_path / "ticket.html"
    assert main(["audit", "export", "--ticket", store[4], "--format", "html", "--lang", "en",
                 "--output", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    # One self-contained file: styles inline, the timeline inline SVG, nothing to fetch.
    assert html.startswith("<!doctype html>") and "<style>" in html and "<svg" in html
    assert "<script" not in html and 'src="' not in html and "href=\"/" not in html
    assert "Postponed" in html and 'data-reason="postponed"' in html


def test_replay_reads_an_instant_without_offset_as_moscow_time_and_says_so(
        store: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "replay", "--as-of", "2025-05-12T12:00", "--format", "jsonl"]) == 0
    naive = capsys.readouterr()
    assert "read as Moscow time, 2025-05-12T12:00:00+03:00" in naive.err
    assert main(["audit", "replay", "--as-of", "2025-05-12T12:00+03:00", "--format", "jsonl"]) == 0
    assert capsys.readouterr().out == naive.out
