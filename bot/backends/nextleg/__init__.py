"""TheNextLeg v2 (docs/backends/thenextleg.md): the client and what other modules use."""

from bot.backends.nextleg.client import OPTIONS, MessagePayload, NextLegBackend, Pacer, parse_settings

__all__ = ["OPTIONS", "MessagePayload", "NextLegBackend", "Pacer", "parse_settings"]
