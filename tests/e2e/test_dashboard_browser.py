"""The pages people use, in a real browser: headless Chromium (Debian's package) via Playwright.

One uvicorn server (loopback, free port) and one browser for the whole module. The desk
runs on a manual clock with its projections running. Screenshots go to ``docs/``.

* the dashboard in Russian: urgency order beside the handling order, clickable counters,
  unassigned / assignee (any case) / category / status filters, working days, МСК, the
  layout at 1366×768, live updates over server-sent events;
* the ticket page of a ticket that was paused, reclassified and breached: its timeline
  picture and the as-of control;
* ``/docs`` and ``/redoc`` with every request outside the app refused.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from domain.values import Category, Channel, Level, Product
from projections.system import build_projections
from services.api import create_app
from services.api.auth import Role, TokenStore
from services.application import SupportDesk
from services.clock import ManualClock
from tests.helpers import AGENT, SUPERVISOR, Requester, msk
from tests.people_scenario import paused_reclassified_breached

CHROMIUM = Path("/usr/bin/chromium")
# Screenshots land in a temporary folder; PASS24_SCREENSHOT_DIR=docs refreshes the ones in docs/.
DOCS = Path(os.environ.get("PASS24_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="pass24-shots-"))
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

if not CHROMIUM.exists():  # pragma: no cover - `make test` runs scripts/ensure-chromium.sh first
    pytest.skip("no /usr/bin/chromium: run scripts/ensure-chromium.sh", allow_module_level=True)

pytestmark = pytest.mark.slow


@dataclass
class Server:
    url: str
    clock: ManualClock
    desk: SupportDesk
    http: httpx.Client
    tokens: dict[Role, str]
    tickets: dict[str, str]

    def queue(self) -> list[dict[str, Any]]:
        response = self.http.get("/queue", params={"limit": 500},
                                 headers={"Authorization": f"Bearer {self.tokens[Role.AUDITOR]}"})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def seed(desk: SupportDesk) -> dict[str, str]:
    """Four open tickets on Monday 28.04.2025, looked at 17:50 Moscow time."""
    client = Requester(name="Пётр", email="petr@example.ru")
    breached = paused_reclassified_breached(desk)  # emergency (not confirmed), assigned agent.kim
    at_risk = desk.receive(channel=Channel.EMAIL, requester=client, subject="Не приходят уведомления о гостях",
                           description="С утра не приходят push-уведомления.", product=Product.ONLINE,
                           product_version="5.2", actor=AGENT, at=msk("2025-04-28 10:30")).ticket_id
    desk.classify(at_risk, level=Level.STANDARD, product=Product.ONLINE, category=Category.DEFECT,
                  actor=AGENT, at=msk("2025-04-28 10:35"))
    question = desk.receive(channel=Channel.FORM, requester=client, subject="Как выгрузить журнал посетителей?",
                            description="Нужна выгрузка за месяц.", product=Product.ONLINE,
                            product_version="5.2", actor=AGENT, at=msk("2025-04-28 11:00")).ticket_id
    desk.classify(question, level=Level.CONSULTATION, product=Product.ONLINE,
                  category=Category.GENERAL_CONSULTATION, actor=AGENT, at=msk("2025-04-28 11:05"))
    desk.assign(question, assignee="Agent.Kim", actor=SUPERVISOR, at=msk("2025-04-28 11:06"))
    outage = desk.receive(channel=Channel.PHONE, requester=client, subject="Не работает КПП на въезде",
                          description="Шлагбаум закрыт, очередь машин.", product=Product.CONTROL,
                          product_version="3.14.2", actor=AGENT, at=msk("2025-04-28 17:40")).ticket_id
    desk.classify(outage, level=Level.EMERGENCY, product=Product.CONTROL,
                  category=Category.OPERATIONAL_FAILURE, actor=AGENT, at=msk("2025-04-28 17:41"))
    desk.confirm_emergency(outage, actor=SUPERVISOR, at=msk("2025-04-28 17:42"))
    desk.assign(outage, assignee="agent.sokolova", actor=SUPERVISOR, at=msk("2025-04-28 17:43"))
    return {"breached": breached, "at_risk": at_risk, "question": question, "outage": outage}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    clock = ManualClock(msk("2025-04-28 17:50"))
    desk = SupportDesk(clock=clock)
    tickets = seed(desk)
    store = TokenStore(None)
    tokens = {role: store.issue(role, f"{role.value}.tester") for role in Role}
    models, runner = build_projections(desk, calendar=desk.calendar, clock=clock, poll_interval=0.02)
    runner.start()
    app = create_app(desk, tokens=store, read_models=models, runner=runner, catch_up_timeout=2)
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                       timeout_graceful_shutdown=2))
    thread = threading.Thread(target=uv.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            assert runner.wait_for(desk.recorder.max_notification_id() or 0, 10)
            yield Server(url, clock, desk, http, tokens, tickets)
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        runner.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield chromium
        finally:
            chromium.close()


def signed_in(browser: Any, server: Server, path: str) -> tuple[Any, list[str]]:
    """A page at 1366×768 whose tab holds the auditor's token, typed into the form."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="ru-RU",
                                  timezone_id="Asia/Vladivostok")  # the browser's zone must not matter
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.url}/dashboard")
    page.fill("#token", server.tokens[Role.AUDITOR])
    page.click("#login button[type=submit]")
    page.locator("#queue tbody tr").first.wait_for(timeout=10_000)
    if path != "/dashboard":
        page.goto(server.url + path)
    return page, errors


def ids(page: Any) -> list[str]:
    rows = page.locator("#queue tbody tr")
    return [rows.nth(i).get_attribute("data-ticket") for i in range(rows.count())]


def test_dashboard_in_russian_urgency_first_filters_and_counters(browser: Any, server: Server) -> None:
    t = server.tickets
    page, errors = signed_in(browser, server, "/dashboard")
    try:
        expect = playwright_api.expect
        # Urgency: breached, then at risk, then the rest in handling order (confirmed emergency first).
        expect(page.locator("#queue tbody tr")).to_have_count(4)
        assert ids(page) == [t["breached"], t["at_risk"], t["outage"], t["question"]]
        assert page.locator(f"tr[data-ticket='{t['breached']}']").get_attribute("data-sla") == "breached"
        assert page.locator(f"tr[data-ticket='{t['at_risk']}']").get_attribute("data-sla") == "at_risk"
        # Beside each urgency rank, the place in the regulation's handling order.
        assert [page.locator("#queue tbody tr").nth(i).get_attribute("data-handling") for i in range(4)] \
            == ["2", "3", "1", "4"]
        assert "№2 по регл." in page.locator("#queue tbody tr").first.locator("td").first.inner_text()
        assert "token" not in page.url
        # Russian, human names, working days of 9 hours, Moscow time labelled.
        assert page.locator("th").nth(7).inner_text() == "Реакция"
        row = page.locator(f"tr[data-ticket='{t['at_risk']}']")
        assert "стандартный" in row.inner_text() and "PASS24.online" in row.inner_text()
        resolution = row.locator("td.clock").nth(1).inner_text()
        assert "раб. дн." in resolution and "МСК" in resolution, resolution
        breached_row = page.locator(f"tr[data-ticket='{t['breached']}']")
        assert "просрочено на 20 мин" in breached_row.locator("td.clock").nth(1).inner_text()
        # Set once every call of the refresh has answered: wait for it, do not sample it.
        expect(page.locator("#updated")).to_contain_text("МСК")
        # Readable at 1366×768: nothing wider than the window, the resolution column on screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366
        # Measured in one script run: a refresh can replace the rows between finding and measuring.
        right = page.wait_for_function(
            """id => {
                const cells = document.querySelectorAll(`tr[data-ticket='${id}'] td.clock`);
                const box = cells.length > 1 ? cells[1].getBoundingClientRect() : null;
                return box && box.width > 0 ? box.right : null;
            }""", arg=t["breached"], timeout=10_000).json_value()
        assert right <= 1366
        page.locator("#chart svg rect[data-level=emergency]").first.wait_for(state="attached", timeout=10_000)
        assert page.locator("#chart svg rect[data-level=standard]").count() >= 1
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / "dashboard.png"), full_page=True)

        # The regulation's handling order beside it.
        page.select_option("#filters select[name=order]", "handling")
        expect(page.locator("#queue tbody tr").first).to_have_attribute("data-ticket", t["outage"])
        assert ids(page) == [t["outage"], t["breached"], t["at_risk"], t["question"]]
        page.select_option("#filters select[name=order]", "urgency")

        # Counters are buttons: breached only, then everything again.
        assert page.locator("#count-breached").inner_text() == "1"
        assert page.locator("#count-at_risk").inner_text() == "1"
        assert page.locator("#count-unassigned").inner_text() == "1"
        page.click("#summary .pill.breached")
        expect(page.locator("#queue tbody tr")).to_have_count(1)
        assert ids(page) == [t["breached"]]
        page.click("#summary .pill.breached")
        expect(page.locator("#queue tbody tr")).to_have_count(4)
        page.click("#summary .pill.unassigned")
        assert ids(page) == [t["at_risk"]]
        page.click("#summary .pill.unassigned")

        # Filters: unassigned, assignee in any case, category, several statuses at once.
        page.check("#filters input[name=unassigned]")
        expect(page.locator("#queue tbody tr")).to_have_count(1)
        assert ids(page) == [t["at_risk"]]
        page.uncheck("#filters input[name=unassigned]")
        page.fill("#filters input[name=assignee]", "AGENT.KIM")
        expect(page.locator("#queue tbody tr")).to_have_count(2)
        assert ids(page) == [t["breached"], t["question"]]  # "agent.kim" and "Agent.Kim"
        page.fill("#filters input[name=assignee]", "")
        page.select_option("#filters select[name=category]", "general_consultation")
        expect(page.locator("#queue tbody tr")).to_have_count(1)
        assert ids(page) == [t["question"]]
        page.select_option("#filters select[name=category]", "")
        statuses = {item["id"]: item["status"] for item in server.queue()}
        chosen = sorted(set(statuses.values()))[:2]
        for status in chosen:
            page.check(f"#statuses input[value={status}]")
        wanted = [i for i in [t["breached"], t["at_risk"], t["outage"], t["question"]] if statuses[i] in chosen]
        expect(page.locator("#queue tbody tr")).to_have_count(len(wanted))
        assert ids(page) == wanted
        for status in chosen:
            page.uncheck(f"#statuses input[value={status}]")
        expect(page.locator("#queue tbody tr")).to_have_count(4)

        # Live: the server pushes a change when the desk clock moves; no reload, no polling.
        expect(page.locator("#live")).to_have_attribute("data-mode", "live", timeout=10_000)
        server.clock.set(msk("2025-04-29 10:00"))  # the standard ticket's reaction was due 09:30
        expect(page.locator(f"tr[data-ticket='{t['at_risk']}']")).to_have_attribute(
            "data-sla", "breached", timeout=10_000)
        assert page.locator("#live").get_attribute("data-mode") == "live"
        # Ticket IDs link to the ticket page.
        link = page.locator(f"tr[data-ticket='{t['breached']}'] a")
        assert link.get_attribute("href") == f"/ui/tickets/{t['breached']}"
        assert errors == []
    finally:
        server.clock.set(msk("2025-04-28 17:50"))
        page.context.close()


def test_dashboard_polls_when_the_event_stream_is_unavailable(browser: Any, server: Server) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    context.route("**/dashboard/events", lambda route: route.abort())
    page = context.new_page()
    try:
        page.goto(f"{server.url}/dashboard?lang=ru")
        page.locator("#login").wait_for(state="visible", timeout=10_000)
        page.fill("#token", server.tokens[Role.AUDITOR])
        page.click("#login button[type=submit]")
        page.locator("#queue tbody tr").first.wait_for(timeout=10_000)
        playwright_api.expect(page.locator("#live")).to_have_attribute("data-mode", "polling", timeout=10_000)
        at_risk = server.tickets["at_risk"]
        assert page.locator(f"tr[data-ticket='{at_risk}']").get_attribute("data-sla") == "at_risk"
        server.clock.set(msk("2025-04-29 10:00"))
        playwright_api.expect(page.locator(f"tr[data-ticket='{at_risk}']")).to_have_attribute(
            "data-sla", "breached", timeout=15_000)
    finally:
        server.clock.set(msk("2025-04-28 17:50"))
        context.close()


def test_ticket_page_timeline_and_as_of(browser: Any, server: Server) -> None:
    ticket = server.tickets["breached"]
    page, errors = signed_in(browser, server, f"/ui/tickets/{ticket}")
    try:
        expect = playwright_api.expect
        report = page.locator("article.ticket-report")
        report.wait_for(timeout=10_000)
        assert page.locator("h1").inner_text() == f"Заявка {ticket}"
        resolution = page.locator("svg.timeline g[data-clock=resolution]")
        assert resolution.get_attribute("data-status") == "breached"
        # Paused 10:30–14:00 waiting for the requester, shaded and named.
        paused = resolution.locator("rect.paused[data-reason=waiting_for_requester]")
        assert paused.count() == 1
        assert "ждём заявителя" in page.locator("ul.pauses").inner_text()
        # The due instant moved twice (the pause, then reclassification to emergency).
        assert resolution.locator("line.due-moved").count() == 2
        assert resolution.locator("line.due").count() == 1
        assert resolution.locator("path.alert.breached").count() == 1
        assert resolution.locator("line.at-risk-point").count() == 1
        assert page.locator("svg.timeline circle.event").count() == 7
        history = page.locator("ol.history > li")
        assert history.count() == 7
        assert "Переклассифицирована" in history.nth(5).inner_text()
        assert "сдвинут" in history.nth(5).inner_text()
        assert "28.04.2025 17:50 МСК" in page.locator(".as-of-line").inner_text()
        # The paused span lies left of the resumed running span, inside the picture.
        pause_box, running_box = paused.bounding_box(), resolution.locator("rect.running").nth(1).bounding_box()
        assert pause_box is not None and running_box is not None
        assert pause_box["x"] < running_box["x"] and pause_box["width"] > 20
        page.screenshot(path=str(DOCS / "ticket-timeline.png"), full_page=True)

        # As of 12:00 the ticket was still standard and waiting for the requester.
        page.fill("#as-of", "2025-04-28T12:00")
        page.dispatch_event("#as-of", "change")
        expect(page.locator("ol.history > li")).to_have_count(4)
        assert page.locator("article").get_attribute("data-as-of") == "2025-04-28T12:00:00+03:00"
        resolution = page.locator("svg.timeline g[data-clock=resolution]")
        assert resolution.get_attribute("data-status") == "paused"
        assert resolution.locator("path.alert").count() == 0
        assert resolution.locator("line.due-moved").count() == 0
        assert "стандартный" in page.locator("dl.facts").inner_text()
        page.screenshot(path=str(DOCS / "ticket-as-of.png"), full_page=True)
        page.click("#now")
        expect(page.locator("ol.history > li")).to_have_count(7)
        # The slider runs from receipt (0) to now (1000): at 0 only the receipt is there.
        page.locator("#as-of-range").fill("0")
        page.dispatch_event("#as-of-range", "change")
        expect(page.locator("ol.history > li")).to_have_count(1)
        assert page.locator("article").get_attribute("data-as-of") == "2025-04-28T10:00:00+03:00"
        assert errors == []
    finally:
        page.context.close()


def test_api_docs_render_with_no_network(browser: Any, server: Server) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    outside: list[str] = []

    def only_the_app(route: Any) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_app)
    page = context.new_page()
    try:
        page.goto(f"{server.url}/docs")
        title = page.locator(".swagger-ui .info .title")
        title.wait_for(timeout=15_000)
        assert "pass24-desk" in title.inner_text()
        page.locator(".opblock-tag-section").first.wait_for(timeout=10_000)
        page.screenshot(path=str(DOCS / "api-docs.png"))
        assert outside == []
        page.goto(f"{server.url}/redoc")
        page.locator("h1", has_text="pass24-desk").first.wait_for(timeout=15_000)
        page.locator("text=/tickets").first.wait_for(timeout=10_000)
        # ReDoc's only outside request is the decorative "API docs by Redocly" logo in its sidebar.
        assert all(url.endswith("/logo-mini.svg") for url in outside), outside
    finally:
        context.close()
