"""Typed aiohttp application keys: what every playground handler reaches through `request.app`."""

from __future__ import annotations

import asyncio

from aiohttp import web

from sandbox.discord import DiscordEmulator
from sandbox.discord.state import Event
from sandbox.fake_mj_proxy import FakeMjProxy

EMULATOR = web.AppKey("emulator", DiscordEmulator)
PROXY = web.AppKey("proxy", FakeMjProxy)
# Open /events streams, so that shutdown can end them instead of waiting for the browser to leave.
STREAMS = web.AppKey("streams", set[asyncio.Queue[Event]])
