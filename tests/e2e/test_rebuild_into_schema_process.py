"""Two `pass24-desk serve` replicas on one PostgreSQL database keep serving while
`projections rebuild --into NAME --switch` runs as a third process, then both move to
the new schema and keep their read models current there (real processes, real server)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from bench.history import generate
from projections.store import postgres_conninfo
from services.application import SupportDesk
from tests.e2e.test_serve_process import CLI, environment, free_port, issue, serve_process  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
PHONE = {"channel": "phone", "requester": {"name": "Пост охраны", "phone": "+7 495 000-00-00"},
         "description": "Шлагбаум не открывается", "product": "pass24_control",
         "product_version": "3.14.2"}


@pytest.mark.postgres
@pytest.mark.slow
def test_two_serve_replicas_follow_a_rebuild_into_a_new_schema(
        environment: dict[str, str], postgres_env: dict[str, str], tmp_path: Path) -> None:
    desk = SupportDesk(env=postgres_env)
    generate(desk, 1500, seed=3, per_day=50)
    desk.close()
    env = {**environment, "PASS24_PERSISTENCE": "postgres", "PASS24_WATCHER_INTERVAL": "3600",
           **{f"PASS24_{key}": postgres_env[key] for key in (
               "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DBNAME", "POSTGRES_USER",
               "POSTGRES_PASSWORD")}}
    replicas = [{**env, "PASS24_API_PORT": str(free_port())} for _ in range(2)]
    agent = {"Authorization": f"Bearer {issue(env, 'agent')}"}
    bases = [f"http://127.0.0.1:{r['PASS24_API_PORT']}" for r in replicas]

    def ticket(index: int) -> dict[str, object]:
        created = httpx.post(f"{bases[index % 2]}/tickets", headers=agent, json=PHONE, timeout=30)
        assert created.status_code == 201, created.text
        answer: dict[str, object] = created.json()
        return answer

    def queued(index: int, position: object) -> set[str]:
        deadline = time.monotonic() + 30
        while True:  # 503 "not reached yet" is a fair answer on a loaded machine: ask again
            page = httpx.get(f"{bases[index]}/queue?limit=500&min_position={position}",
                             headers=agent, timeout=30)
            if page.status_code != 503 or time.monotonic() > deadline:
                break
        assert page.status_code == 200, page.text
        return {item["id"] for item in page.json()["items"]}

    with serve_process(replicas[0], tmp_path / "one.log"), \
            serve_process(replicas[1], tmp_path / "two.log"):
        rebuild = subprocess.Popen([*CLI, "projections", "rebuild", "--into", "blue", "--switch"],
                                   env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        written = []
        while rebuild.poll() is None:  # writes and reads through both replicas meanwhile
            written.append(ticket(len(written)))
            assert str(written[-1]["id"]) in queued(len(written) % 2, written[-1]["position"])
            time.sleep(0.2)
        output = rebuild.communicate()[0]
        assert rebuild.returncode == 0, output
        assert "read models are now schema rm_blue" in output
        assert len(written) >= 3  # the rebuild took a while, and the API answered all along
        written += [ticket(index) for index in range(6)]
        last = written[-1]["position"]
        for index in range(2):
            assert {str(t["id"]) for t in written} <= queued(index, last)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(
                "read store switched to schema rm_blue" in (tmp_path / name).read_text()
                for name in ("one.log", "two.log")):
            time.sleep(0.2)
        for name in ("one.log", "two.log"):
            assert "read store switched to schema rm_blue" in (tmp_path / name).read_text()
        # Switched: read-your-writes now waits on the new schema's positions, so every
        # ticket is there, applied to rm_blue by the replicas' runners.
        for index in range(2):
            assert {str(t["id"]) for t in written} <= queued(index, last)
        # The workers write events of their own (notices not sent: no SMTP here), so the
        # log's head moves on; the replicas' runners keep rm_blue up with it.
        desk = SupportDesk(env=postgres_env)
        head = desk.recorder.max_notification_id()
        desk.close()
        with psycopg.connect(postgres_conninfo(postgres_env), autocommit=True) as conn:
            deadline = time.monotonic() + 20
            while True:
                row = conn.execute(
                    "SELECT MIN(notification_id) FROM rm_blue.projection_tracking").fetchone()
                if (row and row[0] >= head) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert row is not None and row[0] >= head
            opened = conn.execute("SELECT COUNT(*) FROM rm_blue.rm_queue WHERE ticket_id = ANY(%s)",
                                  ([str(t["id"]) for t in written],)).fetchone()
    assert opened is not None and opened[0] == len(written)
