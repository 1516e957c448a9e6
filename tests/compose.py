"""deploy/docker-compose.yml read the way Docker Compose reads it, for tests without Docker.

``desk_services`` gives each pass24-desk service's command, environment and
health check after ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``
interpolation, so a test can start *those* commands as local processes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "deploy" / "docker-compose.yml"
IMAGE = "pass24-desk:local"
_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


class MissingVariable(Exception):
    """A ``${VAR:?message}`` whose variable is not set: compose refuses to start."""


def interpolate(text: str, env: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name, op, arg = match[1], match[2], match[3] or ""
        given = env.get(name)
        if op in (":-", "-"):
            return given if given or (op == "-" and given is not None) else arg
        if op in (":?", "?"):
            if not given:
                raise MissingVariable(f"{name}: {arg}")
            return given
        return given or ""

    return _VARIABLE.sub(value, text)


def _resolve(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_resolve(n, env) for n in node]
    if isinstance(node, dict):
        return {k: _resolve(v, env) for k, v in node.items()}
    return node


@dataclass
class Service:
    name: str
    command: list[str]
    environment: dict[str, str]
    healthcheck: list[str]
    profiles: list[str] = field(default_factory=list)
    ports: list[str] = field(default_factory=list)


def load(env: dict[str, str], path: Path = COMPOSE) -> dict[str, Any]:
    """The compose document with anchors merged and variables interpolated."""
    return dict(_resolve(yaml.safe_load(path.read_text(encoding="utf-8")), env))


def desk_services(env: dict[str, str], path: Path = COMPOSE) -> dict[str, Service]:
    """Every service that runs the pass24-desk image, by name."""
    services: dict[str, Service] = {}
    for name, spec in load(env, path)["services"].items():
        if spec.get("image") != IMAGE:
            continue
        test = spec.get("healthcheck", {}).get("test", [])
        if test and test[0] == "CMD":
            test = test[1:]
        services[name] = Service(
            name=name,
            command=[str(c) for c in spec["command"]],
            environment={k: "" if v is None else str(v) for k, v in spec["environment"].items()},
            healthcheck=[str(t) for t in test],
            profiles=list(spec.get("profiles", [])),
            ports=[str(p) for p in spec.get("ports", [])],
        )
    return services
