"""The AIMG back-end API (docs/backends/aimg.md)."""

from bot.backends.aimg.client import *  # noqa: F403
