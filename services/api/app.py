"""The FastAPI application: routers, error handlers, health."""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from services.api import (
    dashboard,
    health,
    metrics,
    pages,
    problems,
    session_routes,
    tickets,
    views_routes,
)
from services.api.auth import TokenStore
from services.api.deps import known_query_only, require
from services.api.edge import BodyLimit, EdgeLimits, NoCredentialsInUrl
from services.api.waits import PositionWaits
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
    edge: EdgeLimits | None = None,
    threads: int | None = None,
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
    edge = edge or EdgeLimits()
    if not edge.session_secret:  # never sign cookies with an empty key
        edge = dataclasses.replace(edge, session_secret=secrets.token_bytes(32))
    app.state.edge = edge
    app.state.waits = (PositionWaits(runner, per_caller=edge.waits_per_token)
                       if runner is not None else None)
    problems.install(app)
    app.include_router(tickets.router)
    app.include_router(views_routes.router)
    app.include_router(health.router)
    app.include_router(dashboard.router)
    app.include_router(pages.router)
    app.include_router(session_routes.router)
    metrics.install(app, max_age=edge.metrics_cache_seconds, token=edge.metrics_token,
                    serve=edge.serve_metrics)
    for entry in extra_routers or []:
        router, roles = entry if isinstance(entry, tuple) else (entry, None)
        guard = [Depends(require(roles))] if roles else []
        app.include_router(router, dependencies=guard)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, Any]:
        """Liveness: answered on the event loop from memory, whatever the load on the threads
        and the stores (``/readyz`` is the one that asks them); the projections' position is
        the last one seen (null before any)."""
        waits: PositionWaits | None = app.state.waits
        return {"status": "ok",
                "projections_position": waits.last_position if waits is not None else None}

    if threads is not None:
        async def limit_threads() -> None:
            anyio.to_thread.current_default_thread_limiter().total_tokens = threads

        app.router.on_startup.append(limit_threads)

    # Outermost last: credentials in the URL are refused first, then the body is counted.
    app.add_middleware(BodyLimit, max_json_bytes=edge.max_json_bytes,
                       max_multipart_bytes=edge.max_multipart_bytes)
    app.add_middleware(NoCredentialsInUrl)
    return app
