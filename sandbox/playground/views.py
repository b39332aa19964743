"""Read-only JSON for the page: the world, the registered commands and a channel's messages."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox.discord import DiscordEmulator
from sandbox.discord.messages import message_payload
from sandbox.discord.validation import LOCALES
from sandbox.discord.world import ADMINISTRATOR

from .controls import backend_state
from .keys import EMULATOR, PROXY

JSON = dict[str, Any]
CHAT_INPUT = 1
COMMAND_INTERACTION = 2


def commands(emu: DiscordEmulator) -> list[JSON]:
    """Slash commands as the Discord client offers them: guild commands shadow global ones by name."""
    by_name: dict[str, JSON] = {}
    for scope in (None, emu.world.guild.id):
        for command in emu.store.commands.get(scope, []):
            if command.get("type", CHAT_INPUT) == CHAT_INPUT:
                by_name[command["name"]] = command
    return sorted(by_name.values(), key=lambda c: str(c["name"]))


def world(emu: DiscordEmulator) -> JSON:
    guild = emu.world.guild
    users = [
        {
            "id": str(m.user.id),
            "username": m.user.username,
            "global_name": m.user.global_name,
            "bot": m.user.bot,
            "admin": bool(guild.permissions(m.user.id) & ADMINISTRATOR),
            "locale": m.user.locale,
        }
        for m in guild.members
    ]
    return {
        "guild": {"id": str(guild.id), "name": guild.name, "locale": guild.locale},
        "locales": sorted(LOCALES),
        "channels": [
            {"id": str(c.id), "name": c.name, "nsfw": c.nsfw, "topic": c.topic}
            for c in sorted(guild.channels, key=lambda c: c.position)
        ],
        "roles": [{"id": str(r.id), "name": r.name} for r in guild.roles if r.id != guild.id],
        "users": users,
        "bot_id": str(emu.world.bot.id),
        "admin_id": str(emu.world.admin.id),
        "member_id": str(emu.world.member.id),
    }


def with_command_name(emu: DiscordEmulator, payload: JSON) -> JSON:
    """Add the slash command's name to a reply, for the "bob used /imagine" line the client draws.

    Discord's `interaction_metadata` no longer carries it, but the client knows it; the emulator
    keeps the interaction, so the page asks it.
    """
    metadata = payload.get("interaction_metadata")
    if not metadata or metadata.get("type") != COMMAND_INTERACTION:
        return payload
    source = emu.store.interactions.get(int(metadata["id"]))
    if source is None:
        return payload
    return {**payload, "interaction_metadata": {**metadata, "name": source.data.get("name")}}


async def get_state(request: web.Request) -> web.Response:
    emu = request.app[EMULATOR]
    return web.json_response(
        {"world": world(emu), "commands": commands(emu), "backend": backend_state(request.app[PROXY])}
    )


async def get_messages(request: web.Request) -> web.Response:
    emu = request.app[EMULATOR]
    try:
        channel_id = int(request.match_info["channel_id"])
        viewer = int(request.query["viewer"]) if "viewer" in request.query else None
    except ValueError:
        raise web.HTTPBadRequest(text="channel and viewer are numeric ids") from None
    messages = emu.messages(channel_id, viewer=viewer)
    return web.json_response([with_command_name(emu, message_payload(emu, m)) for m in messages])
