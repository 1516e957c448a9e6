"""services/settings.py: every problem at once, readable; the README's table is complete."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from services.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
TABLE = re.compile(r"<!-- settings table.*?-->(.*?)<!-- end of settings table -->", re.S)
ROW = re.compile(r"^\| `PASS24_([A-Z0-9_]+)` \| (.*?) \| (.+) \|$", re.M)


def readme_rows() -> dict[str, tuple[str, str]]:
    match = TABLE.search((ROOT / "README.md").read_text(encoding="utf-8"))
    assert match, "README.md has no settings table between its markers"
    return {m[1].lower(): (m[2], m[3]) for m in ROW.finditer(match[1])}


def rendered_default(name: str) -> str | None:
    default = Settings.model_fields[name].default
    if isinstance(default, SecretStr):
        return None  # secrets: the table says what the default is in words
    if default is None or default == "":
        return "–"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float) and default.is_integer():
        default = int(default)
    return f"`{default}`"


def test_the_readme_lists_every_setting_with_its_default() -> None:
    rows = readme_rows()
    missing = [f"| `PASS24_{n.upper()}` | {rendered_default(n) or '–'} | … |"
               for n in Settings.model_fields if n not in rows]
    stale = sorted(set(rows) - set(Settings.model_fields))
    assert not missing, "add these rows to README.md's settings table:\n" + "\n".join(missing)
    assert not stale, f"README.md lists settings the code no longer has: {stale}"
    wrong = {n: (cell, rendered_default(n)) for n, (cell, _) in rows.items()
             if rendered_default(n) is not None and cell != rendered_default(n)}
    assert not wrong, f"defaults differ from services/settings.py (README, code): {wrong}"
    assert all(meaning.strip(" .…") for _, meaning in rows.values())


def production(**values: str) -> dict[str, str]:
    return {"environment": "production", "persistence": "postgres", **values}


def test_production_lists_every_missing_setting_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, **production())
    names = [p.split(":")[0] for p in caught.value.problems]
    assert names == ["PASS24_POSTGRES_PASSWORD", "PASS24_FORM_SECRET", "PASS24_PHONE_SECRET",
                     "PASS24_AUDIT_KEY"]
    text = str(caught.value)
    assert text.startswith("settings are not usable:\n  - PASS24_POSTGRES_PASSWORD")
    assert "Traceback" not in text and "pydantic" not in text


def test_malformed_values_and_production_gaps_are_one_list_and_secrets_are_not_echoed() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, **production(api_port="eighty", postgres_sslmode="sometimes",
                                                   audit_key="short-secret-value"))
    text = str(caught.value)
    assert "PASS24_API_PORT" in text and "'eighty'" in text
    assert "PASS24_POSTGRES_SSLMODE" in text
    assert "short-secret-value" not in text


def test_complete_production_settings_pass() -> None:
    settings = load_settings(_env_file=None, **production(
        postgres_password="x" * 20, form_secret="f" * 16, phone_secret="p" * 16,
        audit_key="a" * 32))
    assert settings.production_problems() == []


def test_kafka_sasl_needs_its_credentials_in_production() -> None:
    complete = production(postgres_password="x" * 20, form_secret="f" * 16,
                          phone_secret="p" * 16, audit_key="a" * 32)
    with pytest.raises(SettingsError, match="PASS24_KAFKA_SASL_USERNAME"):
        load_settings(_env_file=None, **complete, kafka_security_protocol="SASL_SSL")
    settings = load_settings(_env_file=None, **complete, kafka_security_protocol="SASL_SSL",
                             kafka_sasl_username="desk", kafka_sasl_password="pw",
                             kafka_ssl_cafile="/etc/ssl/ca.pem")
    options = settings.kafka_security()
    assert options == {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                       "sasl_plain_username": "desk", "sasl_plain_password": "pw",
                       "ssl_check_hostname": True, "ssl_cafile": "/etc/ssl/ca.pem"}


def test_kafka_clients_get_the_security_options() -> None:
    from adapters.kafka.clients import KafkaConfig, security_options

    config = KafkaConfig("b:9092", security=security_options("SSL", cafile="/ca.pem"))
    for options in (config.producer_options(), config.consumer_options("g")):
        assert options["security_protocol"] == "SSL" and options["ssl_cafile"] == "/ca.pem"


def test_postgres_tls_reaches_libpq(monkeypatch: pytest.MonkeyPatch) -> None:
    # setenv first, so that the teardown puts back whatever was there (or nothing).
    monkeypatch.setenv("PGSSLMODE", "prefer")
    monkeypatch.setenv("PGSSLROOTCERT", "")
    settings = Settings(_env_file=None, persistence="postgres", postgres_sslmode="verify-full",
                        postgres_sslrootcert="/etc/ssl/ca.pem")
    settings.eventsourcing_env()
    assert os.environ["PGSSLMODE"] == "verify-full"
    assert os.environ["PGSSLROOTCERT"] == "/etc/ssl/ca.pem"


def test_development_secrets_are_generated_once_and_kept(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, dev_secrets_file=tmp_path / "dev.json")
    first = settings.with_development_secrets()
    again = Settings(_env_file=None, dev_secrets_file=tmp_path / "dev.json").with_development_secrets()
    assert len(first.form_secret.get_secret_value()) >= 16
    assert first.phone_secret == again.phone_secret and first.form_secret == again.form_secret
    assert (tmp_path / "dev.json").stat().st_mode & 0o077 == 0
    given = Settings(_env_file=None, dev_secrets_file=tmp_path / "x.json", form_secret="mine" * 4,
                     phone_secret="ours" * 4).with_development_secrets()
    assert given.form_secret.get_secret_value() == "mine" * 4
    assert not (tmp_path / "x.json").exists()


def test_the_cli_prints_the_list_without_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASS24_")}
    env.update(PASS24_ENVIRONMENT="production", PASS24_PERSISTENCE="postgres")
    result = subprocess.run([sys.executable, "-m", "services.cli", "projections", "status"],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.count("  - PASS24_") == 4, result.stderr
