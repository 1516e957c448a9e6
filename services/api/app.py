"""The FastAPI application: routers, error handlers, health."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from services.api import dashboard, health, metrics, pages, problems, tickets, views_routes
from services.api.auth import TokenStore
from services.api.deps import known_query_only, require
from services.application import SupportDesk
from services.channel_policy import ChannelPolicy
from services.intake import IntakeService


def create_app(
    desk: SupportDesk,
    *,
    tokens: TokenStore,
    read_models: Any | None = None,
    runner: Any | None = None,
    catch_up_timeout: float = 5.0,
    ready_max_lag: int = 1000,
    extra_routers: list[Any] | None = None,
    gate: IntakeService | None = None,
    language: str = "ru",
) -> FastAPI:
    """The API over one desk; read models and their runner are optional (queries 503 without)."""
    # /docs and /redoc from assets the app serves itself (fastapi-offline ships them): no CDN.
    app = FastAPIOffline(
        dependencies=[Depends(known_query_only)],
        title="pass24-desk",
        version="1.0",
        description="Technical support desk of PASS24.online: tickets, SLA clocks in working "
        "time (Europe/Moscow production calendar), queue and audit history. Errors are "
        "RFC 9457 application/problem+json.",
    )
    app.state.desk = desk
    app.state.language = language
    # POST /tickets goes through the same intake gate as every channel.
    app.state.gate = gate or IntakeService(desk, channels=ChannelPolicy(desk.calendar))
    app.state.tokens = tokens
    app.state.read_models = read_models
    app.state.runner = runner
    app.state.catch_up_timeout = catch_up_timeout
    app.state.ready_max_lag = ready_max_lag
    problems.install(app)
    app.include_router(tickets.router)
    app.include_router(views_routes.router)
    app.include_router(health.router)
    app.include_router(dashboard.router)
    app.include_router(pages.router)
    metrics.install(app)
    for entry in extra_routers or []:
        router, roles = entry if isinstance(entry, tuple) else (entry, None)
        guard = [Depends(require(roles))] if roles else []
        app.include_router(router, dependencies=guard)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, Any]:
        """Liveness and how far the projections are."""
        position = read_models.position() if read_models is not None else None
        return {"status": "ok", "projections_position": position}

    return app
