"""Structured logs: one JSON object per line on stderr, for every process.

Kubernetes and Docker collect stderr; a log shipper then indexes the fields
(``ts``, ``level``, ``logger``, ``msg`` and any ``extra=`` keys) without
parsing free text. ``PASS24_LOG_FORMAT=text`` keeps the classic line format
for a terminal. Credentials (tokens, bearer values, ``?token=``) are replaced by
``[redacted]`` in every line, whichever logger wrote it. Uvicorn's own loggers (server errors, access log) are routed
through the same handler, so an API pod writes one format only.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any

# Attributes every LogRecord has; anything else came from ``extra=`` and is a field.
_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "taskName"}
TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


class JsonFormatter(logging.Formatter):
    """A record as one JSON line: time (UTC, ISO-8601), level, logger, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


# A credential in a message: our token format, a bearer value, a credential-named query
# parameter (the API refuses those, but the access log still names the refused URL).
_CREDENTIALS = re.compile(
    r"(p24_[A-Za-z0-9_\-]{8,})"
    r"|((?:bearer|basic)\s+)[^\s\"',]+"
    r"|((?:^|[?&;\s])(?:token|access_token|api_key|apikey|bearer|authorization|session|form_token)=)"
    r"[^&\s\"']*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` without credentials: each is replaced by ``[redacted]``."""
    def keep_prefix(match: re.Match[str]) -> str:
        return (match.group(2) or match.group(3) or "") + "[redacted]"

    return _CREDENTIALS.sub(keep_prefix, text)


class RedactCredentials(logging.Filter):
    """Rewrites every record's message (uvicorn's access log included) without credentials."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class DeskHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The stderr handler ``configure`` installs (told apart from, e.g., pytest's)."""


def handler(log_format: str) -> logging.Handler:
    stream = DeskHandler(sys.stderr)
    stream.addFilter(RedactCredentials())
    stream.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    return stream


def configure(log_format: str = "json", level: str = "INFO") -> None:
    """Install the stderr handler on the root logger; idempotent (replaces its earlier self)."""
    root = logging.getLogger()
    for existing in [h for h in root.handlers if isinstance(h, DeskHandler)]:
        root.removeHandler(existing)
    root.addHandler(handler(log_format))
    root.setLevel(level.upper())
    logging.getLogger("kafka").setLevel(logging.WARNING)


def uvicorn_config(level: str = "INFO") -> dict[str, Any]:
    """``uvicorn.run(log_config=...)``: uvicorn's loggers propagate to the root handler."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": level.upper()}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
