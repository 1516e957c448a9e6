"""deploy/docker-compose.yml: every worker, each with a health check the CLI knows."""

from __future__ import annotations

import pytest

from services.cli import build_parser
from tests.compose import MissingVariable, desk_services, interpolate

SECRETS = {"PASS24_POSTGRES_PASSWORD": "p" * 20, "PASS24_FORM_SECRET": "f" * 20,
           "PASS24_PHONE_SECRET": "h" * 20, "PASS24_AUDIT_KEY": "a" * 40,
           "PASS24_SMTP_HOST": "smtp.example.internal"}


def test_interpolation_follows_compose() -> None:
    assert interpolate("${A:-x}", {}) == "x"
    assert interpolate("${A:-x}", {"A": "y"}) == "y"
    assert interpolate("${A}", {}) == ""
    with pytest.raises(MissingVariable, match="say why"):
        interpolate("${A:?say why}", {})


def test_every_worker_is_a_service_with_a_health_check_the_cli_knows() -> None:
    services = desk_services(SECRETS)
    assert set(services) == {"api", "projections", "watcher", "relay", "intake-consumer",
                             "smtp-intake", "mail", "imap-intake"}
    parser = build_parser()
    for name, service in services.items():
        parser.parse_args(service.command)
        assert service.healthcheck[0] == "pass24-desk", name
        parser.parse_args(service.healthcheck[1:])
    assert services["api"].command[:2] == ["serve", "--api-only"]


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_each_secret_is_required_by_name(missing: str) -> None:
    with pytest.raises(MissingVariable, match=missing):
        desk_services({k: v for k, v in SECRETS.items() if k != missing})


def test_the_compose_environment_passes_the_production_check() -> None:
    from services.settings import load_settings

    for service in desk_services(SECRETS).values():
        env = {k.removeprefix("PASS24_").lower(): v for k, v in service.environment.items()}
        settings = load_settings(_env_file=None, **env)
        assert settings.environment == "production" and settings.persistence == "postgres"


def test_env_example_names_every_variable_compose_requires() -> None:
    import re

    from tests.compose import COMPOSE

    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text(encoding="utf-8")))
    example = (COMPOSE.parent / "env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^(PASS24_\w+)=", example, re.M))
    assert required == listed == set(SECRETS)
