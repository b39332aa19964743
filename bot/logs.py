"""Logging set-up: today's text lines, or one JSON object per line (``--log-format json``).

A JSON line has ``ts``, ``level``, ``logger``, ``message`` and, where they apply, ``job_id``,
``guild_id`` and ``service``: from the call's ``extra=`` (:func:`job_fields`) or, for every line
logged while a job is submitted, from :data:`job_context` (:func:`bind_job`).
"""

from __future__ import annotations

import io
import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: The context fields a JSON line carries when they apply.
CONTEXT_KEYS = ("job_id", "guild_id", "service")

#: Context of the job the current task works on (a task's own copy: set it in the job's task).
job_context: ContextVar[dict[str, object] | None] = ContextVar("mjbot_job_context", default=None)


def job_fields(job_id: int, guild_id: int, service: str | None = None) -> dict[str, object]:
    """``extra=`` for a log call about one job."""
    fields: dict[str, object] = {"job_id": job_id, "guild_id": guild_id}
    if service is not None:
        fields["service"] = service
    return fields


def bind_job(job_id: int, guild_id: int, service: str | None = None) -> None:
    """Tag every line the current task logs from now on with this job."""
    job_context.set(job_fields(job_id, guild_id, service))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = job_context.get()
        for key in CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value is None and context is not None:
                value = context.get(key)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(level: str, log_format: LogFormat = "text") -> None:
    """One handler on the root logger, writing line by line to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    # Each line is flushed as it is written (StreamHandler flushes per record); stderr is
    # line-buffered, so a collector reads whole lines even when output is a pipe.
    if isinstance(sys.stderr, io.TextIOWrapper):
        sys.stderr.reconfigure(line_buffering=True)
    logging.basicConfig(level=level.upper(), handlers=[handler])
    # httpx logs every request URL at INFO; keep request lines out of the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
