"""The bot as the publisher sees it: discord.py's bot with the engine and metrics that ``MjBot``
(``bot/discord_side/app.py``) sets up. Typed here so that the publisher need not import the
module that creates it."""

from __future__ import annotations

from discord.ext import commands

from bot.config import Settings
from bot.jobs.engine import JobEngine
from bot.metrics import Metrics


class Host(commands.AutoShardedBot):
    # Set by MjBot (engine in setup_hook).
    engine: JobEngine
    settings: Settings
    metrics: Metrics
