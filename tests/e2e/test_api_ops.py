"""Operations endpoints: readiness, Prometheus metrics, the dashboard's static page."""

from __future__ import annotations

from datetime import timedelta
from importlib.resources import files

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from domain.values import Channel, Product
from projections.system import build_projections
from services.api import create_app
from services.api.auth import TokenStore
from services.application import SupportDesk
from services.clock import ManualClock
from tests.e2e.conftest import Api
from tests.helpers import AGENT, CLIENT, msk


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_expose_request_latency_projection_lag_and_sla_breaches(api: Api) -> None:
    ticket_id = api.receive()
    api.client.get(f"/tickets/{ticket_id}", headers=api.headers())
    assert api.client.get("/queue", headers=api.headers(),
                          params={"min_position": api.desk.recorder.max_notification_id()}
                          ).status_code == 200
    api.clock.advance(timedelta(days=14))  # far past both clocks' due instants

    response = api.client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    # Latency by route template, never by concrete path.
    assert found[("pass24_http_request_duration_seconds_count",
                  (("method", "GET"), ("route", "/tickets/{ticket_id}"), ("status", "2xx")))] == 1
    assert not any(ticket_id in str(labels) for _, labels in found)
    assert found[("pass24_projection_lag_events", ())] == 0
    assert found[("pass24_event_store_head", ())] >= 1
    assert found[("pass24_sla_open_clocks", (("clock", "reaction"), ("status", "breached")))] == 1
    assert found[("pass24_sla_open_clocks", (("clock", "reaction"), ("status", "on_track")))] == 0
    assert sum(value for (name, _), value in found.items()
               if name == "pass24_sla_breached_tickets") == 1


def test_metrics_and_the_dashboard_stay_out_of_the_api_schema(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    assert "/metrics" not in paths
    assert not [path for path in paths if path.startswith("/dashboard")]
    assert "/readyz" in paths


def test_readyz_is_ready_when_the_read_models_keep_up(api: Api) -> None:
    api.receive()
    head = api.desk.recorder.max_notification_id()
    api.client.get("/queue", headers=api.headers(), params={"min_position": head})

    body = api.client.get("/readyz").json()

    assert body == {"status": "ready", "head": head, "projections_position": head, "lag": 0}


def test_readyz_refuses_traffic_while_the_read_models_lag_behind() -> None:
    clock = ManualClock(msk("2025-04-28 10:00"))
    desk = SupportDesk(clock=clock)
    models, _runner = build_projections(desk, calendar=desk.calendar, clock=clock)  # not started
    desk.receive(channel=Channel.PHONE, requester=CLIENT, subject="s", description="d",
                 product=Product.CONTROL, actor=AGENT)
    app = create_app(desk, tokens=TokenStore(None), read_models=models, ready_max_lag=0)
    with TestClient(app) as client:
        response = client.get("/readyz")
        live = client.get("/healthz")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "behind" in response.json()["detail"]
    assert live.status_code == 200  # lagging is not dead: liveness stays green


def test_the_dashboard_is_one_public_page_with_its_own_assets_only(api: Api) -> None:
    page = api.client.get("/dashboard")
    script = api.client.get("/dashboard/static/dashboard.js")
    style = api.client.get("/dashboard/static/dashboard.css")

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert script.status_code == 200 and style.status_code == 200
    # Nothing is fetched from outside the app (the SVG namespace is an identifier, not a fetch).
    for text in (page.text, script.text, style.text):
        assert "https://" not in text
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert api.client.get("/dashboard/static/..%2Fapp.py").status_code == 404
    assert api.client.get("/dashboard/static/tickets.py").status_code == 404


def test_the_dashboard_clock_is_the_desk_clock(api: Api) -> None:
    assert api.client.get("/dashboard/clock").json()["now"] == "2025-04-28T10:00:00+03:00"


def test_dashboard_assets_ship_inside_the_package() -> None:
    static = files("services.api").joinpath("static")
    for name in ("dashboard.html", "dashboard.js", "dashboard.css"):
        assert static.joinpath(name).is_file(), name
