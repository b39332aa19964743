"""useapi.net's Midjourney API v2 (docs/backends/useapi.md): the client and what other modules use."""

from bot.backends.useapi.client import MAX_PROMPT_CHARS, OPTIONS, BlendDimensions, UseApiBackend

__all__ = ["MAX_PROMPT_CHARS", "OPTIONS", "BlendDimensions", "UseApiBackend"]
