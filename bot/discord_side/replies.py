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

from bot.discord_side.early_acks import TOKEN_SECONDS, early_response
from bot.discord_side.language import for_member
from bot.domain import Reply

#: Discord's error code for a second initial response to one interaction.
ALREADY_ACKNOWLEDGED = 40060


async def defer_job_message(interaction: discord.Interaction[Any]) -> Reply:
    """Acknowledge ``interaction`` with a public "thinking…" message that will show the job
    (unless bot/discord_side/early_acks.py already did, from the gateway event)."""
    early = early_response(interaction)
    message_id = early.message_id if early is not None else await _defer(interaction)
    if message_id is None:
        # Discord names the message it made for every deferred channel message response.
        raise RuntimeError("Discord did not say which message the deferred response made")
    return Reply(
        message_id=message_id,
        token=interaction.token,
        expires=interaction.created_at.timestamp() + TOKEN_SECONDS,
    )


async def _defer(interaction: discord.Interaction[Any]) -> int | None:
    """discord.py's own defer() (none was sent early, or it failed); the message it made."""
    try:
        response = await interaction.response.defer(thinking=True)
        message_id = response.message_id if response is not None else None
    except discord.HTTPException as exc:
        if exc.code != ALREADY_ACKNOWLEDGED:
            raise
        # An early acknowledgement Discord took, though its answer was lost on the way back.
        interaction.response._response_type = discord.InteractionResponseType.deferred_channel_message
        message_id = (await interaction.original_response()).id
    if message_id is not None:
        await interaction.client.early_acks.acknowledged_late(interaction, message_id)
    return message_id


async def refuse(interaction: discord.Interaction[Any], text: str) -> None:
    """Withdraw the "thinking…" message and tell the member (only them, in their language) what
    went wrong."""
    with contextlib.suppress(discord.HTTPException):
        await interaction.delete_original_response()
    await interaction.followup.send(
        for_member(interaction, text), ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
    )
