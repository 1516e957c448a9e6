"""``pass24-desk serve`` and ``pass24-desk token issue``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Any

from services.api.auth import Role, TokenStore
from services.settings import Settings


def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help="the HTTP API with every background worker")
    serve.add_argument("--host", help="default: PASS24_API_HOST (127.0.0.1)")
    serve.add_argument("--port", type=int, help="default: PASS24_API_PORT (8024)")
    serve.add_argument("--demo", action="store_true",
                       help="on an empty store, add a few demo tickets and print an agent token")
    serve.add_argument("--api-only", action="store_true",
                       help="only HTTP: no background worker in this process (they run as "
                            "`pass24-desk worker`); default: PASS24_API_WORKERS")
    serve.set_defaults(handler=_serve)

    token = sub.add_parser("token", help="API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    issue = token_sub.add_parser("issue", help="print a new token; only its hash is stored")
    issue.add_argument("--role", required=True, choices=[r.value for r in Role])
    issue.add_argument("--name", help="who holds it (default: the role)")
    issue.set_defaults(handler=_issue)


def tokens_for(settings: Settings) -> TokenStore:
    return TokenStore.from_config(settings.tokens_file, settings.api_tokens)


def _issue(settings: Settings, args: argparse.Namespace) -> int:
    role = Role(args.role)
    token = tokens_for(settings).issue(role, args.name or role.value)
    print(token)
    print(f"stored the hash in {settings.tokens_file}", file=sys.stderr)
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from services.api import create_app
    from services.api.edge import EdgeLimits
    from services.bootstrap import build_services
    from services.demo import seed_live_demo
    from services.api.health import StorePositions
    from services.logging import uvicorn_config

    services = build_services(settings)
    tokens = tokens_for(settings)
    host = args.host or settings.api_host
    port = args.port or settings.api_port
    if args.demo:
        created = seed_live_demo(services.desk)
        token = tokens.issue(Role.AGENT, "demo.agent")
        supervisor = tokens.issue(Role.SUPERVISOR, "demo.supervisor")
        print(f"demo tickets: {', '.join(created) if created else 'store already has tickets'}")
        print(f"agent token:      {token}")
        print(f"supervisor token: {supervisor}")
        print(f"try: curl -H 'Authorization: Bearer {token}' http://{host}:{port}/queue")
    workers = settings.api_workers and not args.api_only
    # Without workers here, read-your-writes waits on the positions the workers record.
    runner = services.runner if workers else StorePositions(services.read_models)
    app = create_app(services.desk, tokens=tokens, read_models=services.read_models,
                     runner=runner, catch_up_timeout=settings.catch_up_timeout,
                     ready_max_lag=settings.ready_max_lag, extra_routers=services.routers,
                     gate=services.mail.gate, language=settings.locale,
                     edge=EdgeLimits.from_settings(settings))
    app.state.parking = services.parking
    app.state.relay_position = relay_position(settings, services.desk)
    if settings.metrics_port is not None:
        from prometheus_client import start_http_server

        # Its own port and thread: scrapes never queue behind API requests, and the port
        # can be left out of the Service that faces clients.
        start_http_server(settings.metrics_port, addr=host, registry=app.state.metrics_registry)
        print(f"metrics on http://{host}:{settings.metrics_port}/metrics", flush=True)
    print(f"pass24-desk API on http://{host}:{port}  (OpenAPI: http://{host}:{port}/docs, "
          f"dashboard: http://{host}:{port}/dashboard)", flush=True)
    services.start_when_listening(host, port, workers=workers)
    try:
        uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(),
                    log_config=uvicorn_config(settings.log_level), proxy_headers=True,
                    forwarded_allow_ips=settings.forwarded_allow_ips)
    finally:
        services.stop()
    return 0


def relay_position(settings: Settings, desk: Any) -> Callable[[], int | None] | None:
    """What ``/metrics`` reports relay lag from: the Kafka relay's saved position, which it
    keeps in the desk's PostgreSQL database. None elsewhere; and each read answers None
    before the relay's first batch or when the database does not answer, so a deployment
    without a relay shows no false lag."""
    if settings.persistence != "postgres":
        return None
    from services.cli_kafka import position_store

    name = f"{desk.name}->{settings.kafka_ticket_events_topic}"  # the relay's default name
    opened: list[Any] = []

    def load() -> int | None:
        try:
            if not opened:
                opened.append(position_store(settings))
            position = int(opened[0].load(name))
        except Exception:  # noqa: BLE001 - a scrape must not fail on a side metric
            logging.getLogger("pass24.metrics").warning("relay position unreadable", exc_info=True)
            opened.clear()
            return None
        return position or None

    return load
