"""Persistence: everything that must survive a restart."""

from bot.store.sqlite import Store

__all__ = ["Store"]
