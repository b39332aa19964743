"""A running sandbox with its playground, and a stand-in for a bot that opens a modal."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord.gateway
import discord.http
import httpx
import pytest

from bot.config import JobSettings, Settings, WebSettings
from sandbox.discord import DiscordEmulator, Interaction
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.playground import Playground
from sandbox.runner import Sandbox

COMMAND, MODAL = 2, 9
FAST_JOBS = JobSettings(timeout_seconds=20, poll_interval_seconds=0.3, progress_edit_seconds=0.0)


@dataclass
class Running:
    sandbox: Sandbox
    playground: Playground

    @property
    def emu(self) -> DiscordEmulator:
        return self.sandbox.emulator


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    # The mask editor on, as `mjbot` with no token has it.
    sandbox = Sandbox(
        Settings(jobs=FAST_JOBS, web=WebSettings(mask_editor=True)),
        store_path=tmp_path / "db.sqlite3",
        proxy=FakeMjProxy(step_seconds=0.05),
    )
    await sandbox.start()
    playground = Playground(sandbox.emulator, sandbox.proxy)
    try:
        await playground.start()
        yield Running(sandbox, playground)
    finally:
        await playground.stop()
        await sandbox.stop()
        # point_discord_py_at changed discord.py's globals; other tests expect them as they were.
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


FEEDBACK_MODAL: dict[str, Any] = {
    "custom_id": "feedback",
    "title": "How was it?",
    "components": [
        {
            "type": 1,
            "components": [
                {"type": 4, "custom_id": "comment", "label": "Comment", "style": 2, "required": True}
            ],
        }
    ],
}


async def bot_opens_modal(emu: DiscordEmulator, user_id: int, channel_id: int) -> Interaction:
    """The bot answers an interaction of `user_id` with FEEDBACK_MODAL.

    The API tests check the playground's modal plumbing (who sees a modal, who may submit it) on
    their own, without a bot flow in between: the test plays the bot's side, answering through the
    emulator's REST API with the very callback discord.py's `send_modal` makes. (The browser test
    drives the bot's real Custom Zoom modal.)
    """
    interaction = Interaction(
        emu.ids.next(),
        secrets.token_urlsafe(48),
        COMMAND,
        user_id,
        channel_id,
        {"name": "feedback", "type": 1},
        emu.clock.now(),
    )
    emu.store.interactions[interaction.id] = interaction
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{emu.api_base}/interactions/{interaction.id}/{interaction.token}/callback",
            json={"type": MODAL, "data": FEEDBACK_MODAL},
        )
    assert response.status_code == 204, response.text
    return interaction
