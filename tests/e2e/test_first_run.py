"""`make run` on a fresh checkout: every channel works out of the box, and is explained."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.mail import free_port

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "services.cli"]


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    """The defaults of a fresh checkout (relative paths under ./var), only the ports moved."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASS24_")}
    env.update(PASS24_API_PORT=str(free_port()), PASS24_SMTP_PORT=str(free_port()),
               PYTHONPATH=str(ROOT),
               # Holidays must not close the form and phone channels under the test (R6).
               PASS24_HOLIDAY_CHANNELS="email,form,phone")
    return env


def serve_demo(env: dict[str, str], cwd: Path) -> Iterator[str]:
    log = cwd / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*CLI, "serve", "--demo"], env=env, cwd=cwd, stdout=out,
                                   stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{env['PASS24_API_PORT']}"
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("serve --demo did not start:\n" + log.read_text())
        yield log.read_text()
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_first_run_prints_how_to_try_each_channel_and_each_works(environment: dict[str, str],
                                                                 tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{environment['PASS24_API_PORT']}"
    runs = serve_demo(environment, tmp_path)
    printed = next(runs)
    for channel in ("API", "form", "phone", "email", "Kafka"):
        assert re.search(rf"^  {channel} ", printed, re.M), (channel, printed)
    token = re.search(r"agent token:\s+(\S+)", printed)[1]  # type: ignore[index]
    phone_secret = re.search(r"X-Pass24-Secret: (\S+)'", printed)[1]  # type: ignore[index]

    # The served form signs its own submissions: post back what the page holds.
    page = httpx.get(f"{base}/intake/form").text
    form_token = re.search(r'name="form_token" value="([^"]+)"', page)[1]  # type: ignore[index]
    posted = httpx.post(f"{base}/intake/form", data={
        "form_token": form_token, "name": "Игорь", "email": "igor@example.com",
        "subject": "Как выгрузить журнал?", "description": "В Excel", "product": "pass24_online",
        "product_version": "2025.4"})
    assert posted.status_code == 201, posted.text

    # The phone webhook with the development secret printed at start.
    call = httpx.post(f"{base}/intake/phone/events", headers={"X-Pass24-Secret": phone_secret},
                      json={"event": "incoming", "call_id": "first-run-1",
                            "caller": "+7 495 000-00-00"})
    assert call.status_code == 201, call.text
    unsigned = httpx.post(f"{base}/intake/phone/events", json={
        "event": "incoming", "call_id": "first-run-2", "caller": "+7 495 000-00-00"})
    assert unsigned.status_code == 401

    queue = httpx.get(f"{base}/queue", headers={"Authorization": f"Bearer {token}"},
                      params={"min_position": 1})
    assert queue.status_code == 200
    runs.close()

    # A restart prints the same tokens and secrets: nothing piles up.
    second = serve_demo(environment, tmp_path)
    again = next(second)
    second.close()
    assert re.search(r"agent token:\s+(\S+)", again)[1] == token  # type: ignore[index]
    assert phone_secret in again
    stored = json.loads((tmp_path / "var" / "tokens.json").read_text())["tokens"]
    assert sorted(t["name"] for t in stored) == ["demo.agent", "demo.supervisor"]
