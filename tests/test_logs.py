"""Log lines never carry hook secrets or interaction tokens, at any level."""

from __future__ import annotations

import logging

import pytest

from bot.cli import _setup_logging
from bot.logs import RedactingFilter

HOOK_SECRET = "Zq3hook-secret_9xYv"
TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OmFCY0RlRg"


def test_hook_secrets_and_interaction_tokens_are_redacted_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _setup_logging("DEBUG")  # what `mjbot` does: the filter goes on every root handler
    try:
        http = logging.getLogger("discord.http")
        http.debug(
            "POST %s with %s has returned 204",
            f"https://discord.com/api/v10/interactions/1234/{TOKEN}/callback",
            '{"type": 5}',
        )
        http.debug(
            "PATCH https://discord.com/api/v10/webhooks/42/%s/messages/@original has returned 200", TOKEN
        )
        logging.getLogger("bot.jobs").info("push for http://bot.example:8080/hooks/17/%s", HOOK_SECRET)
    finally:
        for handler in logging.getLogger().handlers:
            handler.filters = [f for f in handler.filters if not isinstance(f, RedactingFilter)]
    assert TOKEN not in caplog.text and HOOK_SECRET not in caplog.text
    assert "/interactions/1234/***/callback" in caplog.text
    assert "/webhooks/42/***/messages/@original" in caplog.text
    assert "/hooks/17/***" in caplog.text
