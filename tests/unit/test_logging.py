"""services/logging.py: one JSON object per log line."""

from __future__ import annotations

import io
import json
import logging

import pytest

from services.logging import DeskHandler, JsonFormatter, configure, uvicorn_config


def test_a_record_becomes_one_json_line_with_its_extra_fields() -> None:
    record = logging.LogRecord("pass24.relay", logging.WARNING, __file__, 1, "lag %d", (42,), None)
    record.ticket_id = "P24-ABC123"

    line = JsonFormatter().format(record)

    entry = json.loads(line)
    assert "\n" not in line
    assert entry["level"] == "warning" and entry["logger"] == "pass24.relay"
    assert entry["msg"] == "lag 42" and entry["ticket_id"] == "P24-ABC123"
    assert entry["ts"].endswith("+00:00")


def test_exceptions_stay_inside_the_json_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    entry = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in entry["exc"]


def test_configure_is_idempotent_and_leaves_other_handlers_alone() -> None:
    root = logging.getLogger()
    foreign = logging.StreamHandler(io.StringIO())
    root.addHandler(foreign)
    before = root.level
    try:
        configure("json", "INFO")
        configure("json", "INFO")
        assert sum(isinstance(h, DeskHandler) for h in root.handlers) == 1
        assert foreign in root.handlers
    finally:
        for handler in [h for h in root.handlers if isinstance(h, DeskHandler)]:
            root.removeHandler(handler)
        root.removeHandler(foreign)
        root.setLevel(before)


def test_uvicorn_logs_go_through_the_same_handler() -> None:
    config = uvicorn_config("INFO")
    assert all(logger["propagate"] and not logger["handlers"]
               for logger in config["loggers"].values())
    assert {"uvicorn.error", "uvicorn.access"} <= set(config["loggers"])


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_readable_on_a_terminal_and_json_elsewhere() -> None:
    from services.logging import resolve_format

    assert resolve_format("auto", _Terminal()) == "text"
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("json", _Terminal()) == "json"
    assert resolve_format("text", io.StringIO()) == "text"


def test_the_handler_follows_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from services.logging import handler

    record = logging.LogRecord("pass24.outbox", logging.INFO, __file__, 1, "sent %s", ("x",), None)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    line = handler("auto").format(record)
    assert "INFO" in line and "pass24.outbox: sent x" in line and not line.startswith("{")
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert json.loads(handler("auto").format(record))["msg"] == "sent x"


def test_uvicorn_colour_codes_stay_out_of_json() -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Started %d", (7,), None)
    record.color_message = "Started \x1b[36m%d\x1b[0m"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["msg"] == "Started 7" and "color_message" not in entry


def test_credentials_never_reach_a_log_line() -> None:
    from services.logging import handler

    stream = io.StringIO()
    out = handler("json")
    out.setStream(stream)  # type: ignore[attr-defined]
    access = logging.getLogger("uvicorn.access.test")
    access.addHandler(out)
    access.propagate = False
    try:
        access.warning('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET",
                       "/dashboard?token=p24_SECRETSECRETSECRET&x=1", "1.1", 400)
        access.warning("Authorization: Bearer p24_OTHERSECRETVALUE rejected")
        access.warning("form_token=1750000000.ab.cd posted; api_key=k1 and Basic dXNlcjpwYXNz")
    finally:
        access.removeHandler(out)
    text = stream.getvalue()
    for secret in ("SECRETSECRETSECRET", "OTHERSECRETVALUE", "1750000000.ab.cd", "k1 ", "dXNlcjpwYXNz"):
        assert secret not in text
    assert text.count("[redacted]") >= 5
    assert "/dashboard?token=[redacted]&x=1" in text
