"""The bot as the publisher sees it: discord.py's bot with the engine, metrics and store that ``MjBot``
(``bot/discord_side/app.py``) sets up. Typed here so that the publisher need not import the
module that creates it."""

from __future__ import annotations

from discord.ext import commands

from bot.config import Settings
from bot.jobs.engine import JobEngine
from bot.metrics import Metrics
from bot.store import Store


class Host(commands.AutoShardedBot):
    # Set by MjBot (engine in setup_hook).
    engine: JobEngine
    settings: Settings
    metrics: Metrics
    store: Store
