"""`pass24-desk serve` as a real process: tokens from the CLI, HTTP on loopback, SQLite files."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

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
def serve_process(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`pass24-desk serve` as a real process, answering /healthz, stopped afterwards."""
    base = f"http://127.0.0.1:{env['PASS24_API_PORT']}"
    with log_path.open("wb") as log:
        process = subprocess.Popen([*CLI, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT,
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
