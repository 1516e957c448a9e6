"""Configuration files for the SLA policy and the working calendar, validated at the edge.

Both are TOML or JSON. Every key is optional; what is left out keeps the
regulation's default.
"""

from __future__ import annotations

import json
import re
import tomllib
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from domain.calendar import CalendarOverrides, WorkingCalendar
from domain.sla import LevelTerms, SlaPolicy
from domain.values import Level


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LevelTermsConfig(_Strict):
    reaction_hours: float = Field(gt=0)
    target_hours: float = Field(gt=0)
    deadline_days: int | None = Field(default=None, gt=0)


class SlaPolicyConfig(_Strict):
    name: str = "pass24-regulation"
    default_level: Level = Level.STANDARD
    at_risk_ratio: float = Field(default=0.75, gt=0, lt=1)
    levels: dict[Level, LevelTermsConfig] = Field(default_factory=dict)

    def to_policy(self) -> SlaPolicy:
        defaults = SlaPolicy.regulation_default()
        terms = dict(defaults.terms)
        for level, cfg in self.levels.items():
            terms[level] = LevelTerms(
                reaction=timedelta(hours=cfg.reaction_hours),
                target=timedelta(hours=cfg.target_hours),
                deadline_days=cfg.deadline_days,
            )
        return SlaPolicy(
            terms=terms,
            default_level=self.default_level,
            at_risk_ratio=self.at_risk_ratio,
            name=self.name,
        )


class CalendarConfig(_Strict):
    timezone: str = "Europe/Moscow"
    opens: time = time(9)
    closes: time = time(18)
    extra_days_off: list[date] = Field(default_factory=list)
    extra_working_days: list[date] = Field(default_factory=list)
    shorten_pre_holiday: bool = False

    @model_validator(mode="after")
    def _check(self) -> CalendarConfig:
        if self.opens >= self.closes:
            raise ValueError("opens must be before closes")
        both = set(self.extra_days_off) & set(self.extra_working_days)
        if both:
            raise ValueError(f"dates both off and working: {sorted(both)}")
        return self

    def to_calendar(self) -> WorkingCalendar:
        return WorkingCalendar(
            tz=self.timezone,
            opens=self.opens,
            closes=self.closes,
            overrides=CalendarOverrides(
                extra_days_off=frozenset(self.extra_days_off),
                extra_working_days=frozenset(self.extra_working_days),
                shorten_pre_holiday=self.shorten_pre_holiday,
            ),
        )


class ConfigError(ValueError):
    """A policy or calendar file that is missing, unreadable or wrong; one line, naming the
    file and, where there is one, the key and what is wrong with it."""


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML or JSON file into a dict, by its suffix."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read: {error}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        hint = ("; dates are written 2026-12-31" if re.search(r"\d{1,2}\.\d{1,2}\.\d{4}", text)
                else "")
        raise ConfigError(f"{path}: not valid {kind}: {error}{hint}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table/object at the top level")
    return data


def _validated(model: type[_Strict], path: Path) -> Any:
    try:
        return model.model_validate(read_config_file(path))
    except ValidationError as error:
        problems = []
        for item in error.errors():
            key = ".".join(str(part) for part in item["loc"]) or "(file)"
            reason = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
            problems.append(f"{key}: {reason}")
        raise ConfigError(f"{path}: {'; '.join(problems)}") from None


def load_policy(path: Path | None) -> SlaPolicy:
    if path is None:
        return SlaPolicy.regulation_default()
    config: SlaPolicyConfig = _validated(SlaPolicyConfig, path)
    return config.to_policy()


def load_calendar(path: Path | None) -> WorkingCalendar:
    if path is None:
        return WorkingCalendar.default()
    return load_calendar_config(path).to_calendar()


def load_calendar_config(path: Path) -> CalendarConfig:
    config: CalendarConfig = _validated(CalendarConfig, path)
    return config
