"""``pass24-desk serve`` and ``pass24-desk token issue``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from services.api.auth import Role, TokenStore
from services.settings import Settings


def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help="the HTTP API with projections and the SLA watcher")
    serve.add_argument("--host", help="default: PASS24_API_HOST (127.0.0.1)")
    serve.add_argument("--port", type=int, help="default: PASS24_API_PORT (8024)")
    serve.add_argument("--demo", action="store_true",
                       help="on an empty store, add a few demo tickets and print an agent token")
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
    from services.bootstrap import build_services
    from services.demo import seed_live_demo

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
    app = create_app(services.desk, tokens=tokens, read_models=services.read_models,
                     runner=services.runner, catch_up_timeout=settings.catch_up_timeout,
                     extra_routers=services.routers)
    print(f"pass24-desk API on http://{host}:{port}  (OpenAPI: http://{host}:{port}/docs)", flush=True)
    services.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        services.stop()
    return 0
