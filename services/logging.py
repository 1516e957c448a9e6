"""Logs on stderr: readable lines on a terminal, one JSON object per line elsewhere.

Kubernetes and Docker collect stderr (not a terminal), so there the default
``PASS24_LOG_FORMAT=auto`` writes JSON, and a log shipper indexes the fields
(``ts``, ``level``, ``logger``, ``msg`` and any ``extra=`` keys) without
parsing free text; a person at a terminal gets ``12:00:01 INFO pass24.x message``.
``json`` or ``text`` force one format. Credentials (tokens, bearer values, ``?token=``) are
replaced by ``[redacted]`` in every line, whichever logger wrote it. Uvicorn's own loggers
(server errors, access log) are routed through the same handler, so a process writes one
format only.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any

# Attributes every LogRecord has; anything else came from ``extra=`` and is a field.
_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message", "asctime", "taskName",
    "color_message",  # uvicorn's copy of the message with terminal colour codes
}
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """A record as one JSON line: time (UTC, ISO-8601), level, logger, process, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,  # which of ``serve --processes N``'s processes
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
    """The stderr handler ``configure`` installs (told apart from, e.g., pytest's).

    Made for stderr, it writes to whatever ``sys.stderr`` is when a record comes, not to
    the stream of the moment it was made: a replaced or closed stderr (a test's capture)
    is never kept. Given another stream (``setStream``), it keeps that one."""

    _fixed: Any = None

    @property
    def stream(self) -> Any:
        return sys.stderr if self._fixed is None else self._fixed

    @stream.setter
    def stream(self, value: Any) -> None:
        self._fixed = None if value is sys.stderr else value


def resolve_format(log_format: str, stream: Any = None) -> str:
    """``auto`` becomes ``text`` when ``stream`` (default: stderr) is a terminal, else ``json``."""
    if log_format != "auto":
        return log_format
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def handler(log_format: str) -> logging.Handler:
    stream = DeskHandler(sys.stderr)
    stream.addFilter(RedactCredentials())
    chosen = resolve_format(log_format, sys.stderr)
    stream.setFormatter(JsonFormatter() if chosen == "json"
                        else logging.Formatter(TEXT_FORMAT, datefmt="%H:%M:%S"))
    return stream


def configure(log_format: str = "auto", level: str = "INFO") -> None:
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
