"""The SLA dashboard in a real browser: headless Chromium (Debian's package) via Playwright.

A real uvicorn server on a loopback port serves a desk on a manual clock with its
projections running; the page polls the API with an auditor's token. When the
test moves the clock past a ticket's deadline, the page — without a reload —
shows the ticket breached.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from projections.system import build_projections
from services.api import create_app
from services.api.auth import Role, TokenStore
from services.application import SupportDesk
from services.clock import ManualClock
from tests.helpers import msk

CHROMIUM = Path("/usr/bin/chromium")
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

if not CHROMIUM.exists():  # pragma: no cover - `make test` runs scripts/ensure-chromium.sh first
    pytest.skip("no /usr/bin/chromium: run scripts/ensure-chromium.sh", allow_module_level=True)


@dataclass
class Server:
    url: str
    clock: ManualClock
    http: httpx.Client
    tokens: dict[Role, str]

    def act(self, ticket_id: str, action: str, body: dict[str, object],
            role: Role = Role.AGENT) -> None:
        response = self.http.post(f"/tickets/{ticket_id}/{action}", json=body,
                                  headers={"Authorization": f"Bearer {self.tokens[role]}"})
        assert response.status_code == 200, response.text

    def receive(self, subject: str) -> str:
        response = self.http.post("/tickets", headers={"Authorization": f"Bearer {self.tokens[Role.AGENT]}"},
                                  json={"channel": "phone", "subject": subject,
                                        "requester": {"name": "Ольга", "email": "olga@example.ru"},
                                        "description": "Since 09:40 no passes open the barrier.",
                                        "product": "pass24_control", "product_version": "3.14.2"})
        assert response.status_code == 201, response.text
        ticket_id: str = response.json()["id"]
        return ticket_id


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def server() -> Iterator[Server]:
    clock = ManualClock(msk("2025-04-28 10:00"))
    desk = SupportDesk(clock=clock)
    store = TokenStore(None)
    tokens = {role: store.issue(role, f"{role.value}.tester") for role in Role}
    models, runner = build_projections(desk, calendar=desk.calendar, clock=clock, poll_interval=0.02)
    runner.start()
    app = create_app(desk, tokens=store, read_models=models, runner=runner, catch_up_timeout=2)
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            yield Server(url, clock, http, tokens)
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        runner.stop()


@pytest.mark.slow
def test_dashboard_shows_a_ticket_breached_when_the_clock_passes_its_deadline(
    server: Server, tmp_path: Path,
) -> None:
    # An emergency, confirmed at 10:05 and not yet answered: its resolution is due at 14:00.
    outage = server.receive("Шлагбаум не открывается")
    server.clock.advance(msk("2025-04-28 10:05") - server.clock.now())
    server.act(outage, "classify", {"level": "emergency", "product": "pass24_control",
                                    "category": "operational_failure"})
    server.act(outage, "confirm-emergency", {"note": "whole site down"}, role=Role.SUPERVISOR)
    # A standard question, assigned, that stays within its SLA.
    question = server.receive("Как добавить гостевой пропуск?")
    server.act(question, "classify", {"level": "standard", "product": "pass24_control",
                                      "category": "defect"})
    server.act(question, "assign", {"assignee": "agent.kim"})

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            # Tokens never travel in URLs (the API refuses ?token=): typed into the page.
            page.goto(f"{server.url}/dashboard")
            page.fill("#token", server.tokens[Role.AUDITOR])
            page.click("#login button[type=submit]")

            first = page.locator("#queue tbody tr").first
            first.wait_for(timeout=10_000)
            # Handling order: the confirmed emergency first; nothing breached yet.
            assert first.get_attribute("data-ticket") == outage
            assert page.locator("tr[data-sla=breached]").count() == 0
            # The compliance chart (drawn after the queue) has the emergency level's line.
            page.locator("#chart svg path[data-level=emergency]").wait_for(state="attached", timeout=10_000)

            server.clock.set(msk("2025-04-28 15:00"))  # an hour past the outage's deadline

            # No reload: the page's own polling brings the breach in.
            breached = page.locator(f"tr[data-ticket='{outage}'][data-sla=breached]")
            resolution = breached.locator("td.clock").nth(1)
            assert resolution.get_attribute("data-status") == "breached"
            assert "overdue 1h 00m" in resolution.inner_text()
            assert page.locator("#count-breached").inner_text() == "1"
            background = breached.evaluate("row => getComputedStyle(row).backgroundColor")
            assert background == "rgb(253, 231, 231)"  # highlighted
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

            page.fill("#filters input[name=assignee]", "agent.kim")
            page.dispatch_event("#filters input[name=assignee]", "change")
            playwright_api.expect(page.locator("#queue tbody tr")).to_have_count(1, timeout=10_000)
            assert page.locator("#queue tbody tr").first.get_attribute("data-ticket") == question
            assert errors == []
        finally:
            browser.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
