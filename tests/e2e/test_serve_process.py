"""`pass24-desk serve` as a real process: tokens from the CLI, HTTP on loopback, SQLite files."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.helpers import spawned_children

CLI = [sys.executable, "-m", "services.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASS24_")}
    env.update(
        PASS24_SQLITE_PATH=str(tmp_path / "desk.sqlite"),
        PASS24_TOKENS_FILE=str(tmp_path / "tokens.json"),
        PASS24_MAIL_DB_PATH=str(tmp_path / "mail.sqlite"),
        PASS24_ATTACHMENTS_DIR=str(tmp_path / "attachments"),
        PASS24_SMTP_PORT=str(free_port()),  # nothing listens: the outbox just retries
        PASS24_API_PORT=str(free_port()),
    )
    return env


@contextmanager
def serve_process(env: dict[str, str], log_path: Path,
                  args: tuple[str, ...] = ()) -> Iterator[subprocess.Popen[bytes]]:
    """`pass24-desk serve` as a real process, answering /healthz, stopped afterwards."""
    base = f"http://127.0.0.1:{env['PASS24_API_PORT']}"
    with log_path.open("wb") as log:
        process = subprocess.Popen([*CLI, "serve", *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                   cwd=Path(__file__).resolve().parents[2])
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            else:
                pytest.fail("serve did not start: " + log_path.read_text())
            yield process
        finally:
            process.terminate()
            process.wait(timeout=20)


@pytest.fixture
def server(environment: dict[str, str], tmp_path: Path) -> Iterator[str]:
    with serve_process(environment, tmp_path / "serve.log"):
        yield f"http://127.0.0.1:{environment['PASS24_API_PORT']}"


def issue(environment: dict[str, str], role: str) -> str:
    out = subprocess.run([*CLI, "token", "issue", "--role", role], env=environment, check=True,
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    return out.stdout.strip()


def test_served_api_takes_a_phone_ticket_and_reads_it_back(environment: dict[str, str], server: str) -> None:
    agent = {"Authorization": f"Bearer {issue(environment, 'agent')}"}
    auditor = {"Authorization": f"Bearer {issue(environment, 'auditor')}"}
    created = httpx.post(f"{server}/tickets", headers=agent, json={
        "channel": "phone", "requester": {"name": "Пост охраны", "phone": "+7 495 000-00-00"},
        "description": "Шлагбаум не открывается", "product": "pass24_control",
        "product_version": "3.14.2"})
    assert created.status_code == 201, created.text
    ticket_id = created.json()["id"]
    classified = httpx.post(f"{server}/tickets/{ticket_id}/classify", headers=agent, json={
        "level": "standard", "product": "pass24_control", "category": "operational_failure"})
    position = classified.json()["position"]
    queue = httpx.get(f"{server}/queue", headers=agent, params={"min_position": position})
    assert [t["id"] for t in queue.json()["items"]] == [ticket_id]
    history = httpx.get(f"{server}/tickets/{ticket_id}/history", headers=auditor)
    # The mail follower records, whenever it gets there, that a phone-only requester got
    # no registration notice (R18).
    types = [e["type"] for e in history.json()["events"]]
    assert [t for t in types if t != "NoticeNotSent"] == ["Received", "Classified"]
    refused = httpx.post(f"{server}/tickets/{ticket_id}/resolve", headers=auditor,
                         json={"resolution": "x"})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"


def _healthz_counted(base: str) -> float:
    text = httpx.get(f"{base}/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("pass24_http_request_duration_seconds_count{")
               and 'route="/healthz"' in line)


def test_several_api_processes_share_the_port_survive_a_killed_one_and_count_together(
        environment: dict[str, str], tmp_path: Path) -> None:
    # Each API process with a reader process of its own, for the dashboard queries.
    env = {**environment, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
           "PASS24_API_READERS": "1"}
    (tmp_path / "metrics").mkdir()
    base = f"http://127.0.0.1:{env['PASS24_API_PORT']}"
    with serve_process(env, tmp_path / "serve.log", ("--processes", "2")) as parent:
        deadline = time.monotonic() + 30
        while len(spawned_children(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        children = set(spawned_children(parent.pid))
        assert len(children) == 2, (tmp_path / "serve.log").read_text()
        agent = {"Authorization": f"Bearer {issue(env, 'agent')}"}
        # The parent projects; an API process reads what another one wrote, once caught up.
        created = httpx.post(f"{base}/tickets", headers=agent, json={
            "channel": "phone", "requester": {"name": "Пост охраны", "phone": "+7 495 000-00-00"},
            "description": "Шлагбаум не открывается", "product": "pass24_control"})
        assert created.status_code == 201, created.text
        queue = httpx.get(f"{base}/queue", headers=agent,
                          params={"min_position": created.json()["position"]})
        assert [t["id"] for t in queue.json()["items"]] == [created.json()["id"]]
        before = _healthz_counted(base)
        answered = sum(httpx.get(f"{base}/healthz").status_code == 200 for _ in range(20))

        readers = {child: spawned_children(child) for child in children}
        assert all(len(found) == 1 for found in readers.values()), readers
        killed = min(children)
        os.kill(killed, 9)
        # The other process answers while the supervisor starts a replacement.
        answered += sum(httpx.get(f"{base}/healthz").status_code == 200 for _ in range(20))
        deadline = time.monotonic() + 30
        while (len(spawned_children(parent.pid)) < 2 or killed in spawned_children(parent.pid)) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        replaced = set(spawned_children(parent.pid))
        assert len(replaced) == 2 and killed not in replaced
        answered += sum(httpx.get(f"{base}/healthz").status_code == 200 for _ in range(20))
        assert answered == 60
        # Every request any process served, the killed one's too, in one scrape.
        assert _healthz_counted(base) - before == answered
        assert len(list((tmp_path / "metrics").glob("histogram_*.db"))) >= 2
        # The killed process's reader does not outlive it.
        _until_none(lambda: [pid for pid in readers[killed] if Path(f"/proc/{pid}").exists()])
    # Nothing outlives the server: no API process, no reader, even one still starting.
    _until_none(lambda: _holding(tmp_path))


def test_a_stopped_serve_stops_its_readers_in_order(
        environment: dict[str, str], tmp_path: Path) -> None:
    # uvicorn's supervisor stops its API processes with SIGTERM, which each re-raises after
    # its graceful shutdown: no exit handler of theirs runs, their app's shutdown does.
    env = {**environment, "PASS24_API_READERS": "1"}
    base = f"http://127.0.0.1:{env['PASS24_API_PORT']}"
    with serve_process(env, tmp_path / "serve.log", ("--processes", "2")) as parent:
        agent = {"Authorization": f"Bearer {issue(env, 'agent')}"}
        assert httpx.get(f"{base}/queue", headers=agent).json()["total"] == 0
    assert parent.returncode == 0
    _until_none(lambda: _holding(tmp_path))
    log = (tmp_path / "serve.log").read_text()
    # Closed on shutdown, the readers' queues are not left to the resource tracker.
    assert log.count("Application shutdown complete") == 2 and "leaked" not in log


def test_serve_on_sigterm_ends_through_its_own_shutdown(
        environment: dict[str, str], tmp_path: Path) -> None:
    """uvicorn raises SIGTERM again after its graceful shutdown; ``serve`` turns it into an
    exit (status 143) that still runs its ``finally``: the workers' stop, exit handlers."""
    env = {**environment, "PASS24_API_READERS": "1"}
    with serve_process(env, tmp_path / "serve.log") as parent:
        pass
    assert parent.returncode == 128 + 15  # killed by the signal itself: -15
    _until_none(lambda: _holding(tmp_path))
    assert "leaked" not in (tmp_path / "serve.log").read_text()


def _until_none(found: Callable[[], list[int]]) -> None:
    deadline = time.monotonic() + 10
    while found() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not found()


def _holding(directory: Path) -> list[int]:
    """Processes with a file under ``directory`` open."""
    holders = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            targets = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        if any(target.startswith(str(directory)) for target in targets):
            holders.append(int(entry.name))
    return holders


def test_a_process_count_out_of_range_is_refused_before_anything_starts(
        environment: dict[str, str]) -> None:
    for given in ("--processes=0", "--processes=65"):
        done = subprocess.run([*CLI, "serve", given], env=environment, capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parents[2], timeout=60)
        assert done.returncode == 2 and "not between 1 and 64" in done.stderr, done.stderr
    done = subprocess.run([*CLI, "serve"], env={**environment, "PASS24_API_PROCESSES": "0"},
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2],
                          timeout=60)
    assert done.returncode == 2 and "PASS24_API_PROCESSES" in done.stderr, done.stderr


def test_api_processes_and_readers_end_when_their_supervisor_is_killed(
        environment: dict[str, str], tmp_path: Path) -> None:
    env = {**environment, "PASS24_API_READERS": "1"}
    base = f"http://127.0.0.1:{env['PASS24_API_PORT']}"
    with serve_process(env, tmp_path / "serve.log", ("--processes", "2")) as parent:
        deadline = time.monotonic() + 30
        while len(spawned_children(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert httpx.get(f"{base}/healthz").status_code == 200
        parent.kill()
        parent.wait()
        # Nobody is left serving without the workers, or holding the store.
        _until_none(lambda: _holding(tmp_path))
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/healthz", timeout=2)
