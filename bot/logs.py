"""Logging: today's text lines, or one JSON object per line (``--log-format json``), never with the
secrets that travel in URLs.

A JSON line has ``ts``, ``level``, ``logger``, ``message`` and, where they apply, ``job_id``,
``guild_id`` and ``service``, given by the call as ``extra=job_fields(job)``.

Backends' webhook URLs carry a per-job secret (``/hooks/<job>/<secret>``), and discord.py's DEBUG
lines name the routes it calls, whose paths carry interaction tokens
(``/interactions/<id>/<token>/callback``, ``/webhooks/<application>/<token>/…``). The redacting
filter is put on the handlers, so it applies to every logger and every level that reaches them.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from bot.domain import BackendKind, Job

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: The context fields a JSON line carries when they apply.
CONTEXT_KEYS = ("job_id", "guild_id", "service")
_SECRET_PATHS = re.compile(r"(/(?:hooks|interactions|webhooks)/[^/\s?#]+/)[^/\s?#'\"]+")


def job_fields(job: Job, service: BackendKind | None = None) -> dict[str, object]:
    """``extra=`` for a log call about one job."""
    fields: dict[str, object] = {"job_id": job.id, "guild_id": job.guild_id}
    if service is not None:
        fields["service"] = service.value
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def log_handler(log_format: LogFormat) -> logging.Handler:
    """A stderr handler writing ``log_format`` lines. Each record is flushed as it is written, and
    stderr is made line-buffered, so a collector reading a pipe gets whole lines at once."""
    if isinstance(sys.stderr, io.TextIOWrapper):
        sys.stderr.reconfigure(line_buffering=True)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    return handler


def redact(text: str) -> str:
    """``text`` with the secret segment of every hook, interaction or webhook path as ``***``."""
    return _SECRET_PATHS.sub(r"\1***", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def redact_handlers(logger: logging.Logger | None = None) -> None:
    """Put the filter on every handler of ``logger`` (default: the root logger), once."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
