"""Audit replay streams: results come out as the single pass over the log goes on."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.history import MSK, generate
from services.application import SupportDesk
from services.audit_replay import Outcomes, replay, ticket_ids, write_jsonl


def test_replay_yields_while_reading_the_log_once(tmp_path: Path) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "d.sqlite")}
    desk = SupportDesk(env=env)
    generate(desk, 2600, seed=2, per_day=60)
    head = desk.recorder.max_notification_id()
    reads: list[int] = []
    original = desk.recorder.select_notifications

    def counted(*args: Any, **kwargs: Any) -> Any:
        found = original(*args, **kwargs)
        reads.extend(n.id for n in found)
        return found

    desk.recorder.select_notifications = counted  # type: ignore[method-assign]
    as_of = datetime(2025, 3, 1, tzinfo=MSK)
    results = replay(desk, as_of)
    first = next(results)
    assert len(reads) == 1000 < head  # one batch read: the first result is out already
    outcomes = Outcomes()
    out = io.StringIO()
    written = write_jsonl(outcomes.counted([first, *results]), out)
    assert sorted(reads) == list(range(1, head + 1))  # every position read exactly once
    assert written == outcomes.counts["tickets"] == len(ticket_ids(desk))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["ticket_id"] for r in lines] == ticket_ids(desk)
    desk.close()
