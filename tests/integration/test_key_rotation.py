"""docs/OPERATIONS.md "Rotating the audit key", done as written, through the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.cli import main

OLD, NEW = "old-key-" + "a" * 32, "new-key-" + "b" * 32


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in [k for k in os.environ if k.startswith("PASS24_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PASS24_SQLITE_PATH", str(tmp_path / "desk.sqlite"))
    monkeypatch.setenv("PASS24_LOG_FORMAT", "json")
    return tmp_path / "desk.sqlite"


def write_some(store: Path) -> None:
    from services.bootstrap import build_desk
    from services.demo import seed_live_demo
    from services.settings import Settings

    from domain.values import Actor, Channel, Requester

    desk = build_desk(Settings(_env_file=None))
    try:
        if not seed_live_demo(desk):  # the store has tickets: add one more
            desk.receive(channel=Channel.PHONE, requester=Requester(phone="+7 495 000-00-01"),
                         subject="after the rotation", description="x",
                         actor=Actor.staff("agent"))
    finally:
        desk.close()


def test_rotation_keeps_old_events_verifiable(store: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PASS24_AUDIT_KEY", OLD)
    write_some(store)
    assert main(["audit", "checkpoint"]) == 0

    # Rotate: the new key seals, the old one only verifies.
    monkeypatch.setenv("PASS24_AUDIT_KEY", NEW)
    monkeypatch.setenv("PASS24_AUDIT_RETIRED_KEYS", OLD)
    write_some(store)
    assert main(["audit", "checkpoint"]) == 0
    capsys.readouterr()
    assert main(["audit", "verify"]) == 0
    import sqlite3

    with sqlite3.connect(store) as conn:
        (events,) = conn.execute("SELECT count(*) FROM stored_events").fetchone()
    out = capsys.readouterr().out
    assert f"OK {events} events of 4 aggregates, 2 checkpoints, 0 events after" in out

    # Forgetting the retired key is caught, not silently accepted.
    monkeypatch.setenv("PASS24_AUDIT_RETIRED_KEYS", "")
    assert main(["audit", "verify"]) == 1
    assert "unknown key" in capsys.readouterr().out
