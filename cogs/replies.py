"""A job's Discord message is the response of the interaction that started it.

The command (or button, or modal) is acknowledged with Discord's public "thinking…" state; that
message becomes the job's, and the publisher fills it in through the interaction's webhook. While
the token lives (15 minutes) those writes are outside the global rate budget and the channel edit
limit, and editing the interaction's own message is idempotent, so a crash cannot post it twice.
A refusal takes the "thinking…" message back and tells only the member why.
"""

from __future__ import annotations

import contextlib
from typing import Any

import discord

from bot.domain import Reply
from bot.early_acks import TOKEN_SECONDS, early_response


async def defer_job_message(interaction: discord.Interaction[Any]) -> Reply:
    """Acknowledge ``interaction`` with a public "thinking…" message that will show the job
    (unless bot/early_acks.py already did, from the gateway event)."""
    response = early_response(interaction)
    if response is None:
        response = await interaction.response.defer(thinking=True)
        if response is not None and response.message_id is not None:
            await interaction.client.early_acks.acknowledged_late(interaction, response.message_id)
    if response is None or response.message_id is None:
        # Discord names the message it made for every deferred channel message response.
        raise RuntimeError("Discord did not say which message the deferred response made")
    return Reply(
        message_id=response.message_id,
        token=interaction.token,
        expires=interaction.created_at.timestamp() + TOKEN_SECONDS,
    )


async def refuse(interaction: discord.Interaction[Any], text: str) -> None:
    """Withdraw the "thinking…" message and tell the member (only them) what went wrong."""
    with contextlib.suppress(discord.HTTPException):
        await interaction.delete_original_response()
    await interaction.followup.send(text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none())
