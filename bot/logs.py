"""Log lines without the secrets that travel in URLs.

Backends' webhook URLs carry a per-job secret (``/hooks/<job>/<secret>``), and discord.py's DEBUG
lines name the routes it calls, whose paths carry interaction tokens
(``/interactions/<id>/<token>/callback``, ``/webhooks/<application>/<token>/…``). The filter is put
on the handlers, so it applies to every logger and every level that reaches them.
"""

from __future__ import annotations

import logging
import re

_SECRET_PATHS = re.compile(r"(/(?:hooks|interactions|webhooks)/[^/\s?#]+/)[^/\s?#'\"]+")


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
