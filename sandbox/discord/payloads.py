"""JSON shapes discord.py parses: users, members, guild, channels, messages, interactions.

Dispatch parsers in discord.py are not guarded, so a missing key kills the bot: these objects carry
every key discord.py 2.7.1 reads unconditionally.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

from .clock import SnowflakeGenerator
from .state import Interaction, Message, StoredAttachment
from .world import Channel, Guild, Member, Role, User, World

JSON = dict[str, Any]

CHAT_INPUT_REPLY = 20  # message type of a response to a slash command
DEFAULT_MESSAGE = 0
COMMAND_INTERACTION = 2


def iso(unix_seconds: float) -> str:
    return datetime.fromtimestamp(unix_seconds, UTC).isoformat()


def user(u: User) -> JSON:
    return {
        "id": str(u.id),
        "username": u.username,
        "global_name": u.global_name,
        "discriminator": "0",
        "avatar": None,
        "bot": u.bot,
        "system": False,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
    }


def member(guild: Guild, m: Member, *, with_permissions: bool = False) -> JSON:
    body: JSON = {
        "user": user(m.user),
        "roles": [str(r) for r in m.role_ids],
        "joined_at": m.joined_at,
        "nick": None,
        "avatar": None,
        "banner": None,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }
    if with_permissions:
        body["permissions"] = str(guild.permissions(m.user.id))
    return body


def role(r: Role) -> JSON:
    return {
        "id": str(r.id),
        "name": r.name,
        "permissions": str(r.permissions),
        "position": r.position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "managed": r.managed,
        "mentionable": False,
        "icon": None,
        "unicode_emoji": None,
        "flags": 0,
    }


def channel(guild: Guild, c: Channel) -> JSON:
    return {
        "id": str(c.id),
        "type": c.type,
        "guild_id": str(guild.id),
        "name": c.name,
        "position": c.position,
        "nsfw": c.nsfw,
        "topic": c.topic,
        "parent_id": None,
        "permission_overwrites": [],
        "rate_limit_per_user": 0,
        "last_message_id": None,
        "flags": 0,
    }


def guild_create(g: Guild) -> JSON:
    return {
        "id": str(g.id),
        "name": g.name,
        "owner_id": str(g.owner_id),
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "features": [],
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": g.premium_tier,
        "premium_subscription_count": 0,
        "preferred_locale": g.locale,
        "system_channel_id": str(g.channels[0].id),
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "afk_channel_id": None,
        "afk_timeout": 300,
        "vanity_url_code": None,
        "max_members": 500000,
        "max_video_channel_users": 25,
        "application_id": None,
        "premium_progress_bar_enabled": False,
        "roles": [role(r) for r in g.roles],
        "emojis": [],
        "stickers": [],
        "channels": [channel(g, c) for c in g.channels],
        "threads": [],
        "members": [member(g, m) for m in g.members],
        "member_count": len(g.members),
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "large": False,
        "unavailable": False,
        "lazy": True,
        "joined_at": g.members[0].joined_at,
    }


#: What GUILD_CREATE adds to the guild object (GUILD_UPDATE's payload is the guild object alone).
_GUILD_CREATE_ONLY = frozenset(
    {
        "channels",
        "threads",
        "members",
        "member_count",
        "presences",
        "voice_states",
        "stage_instances",
        "guild_scheduled_events",
        "soundboard_sounds",
        "large",
        "unavailable",
        "lazy",
        "joined_at",
    }
)


def guild_update(g: Guild) -> JSON:
    return {k: v for k, v in guild_create(g).items() if k not in _GUILD_CREATE_ONLY}


def application(world: World) -> JSON:
    return {
        "id": str(world.application_id),
        "name": world.application_name,
        "description": "",
        "icon": None,
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": user(world.admin),
        "verify_key": "0" * 64,
        "flags": 0,
        "team": None,
        "bot": user(world.bot),
        "summary": "",
        "tags": [],
        "rpc_origins": [],
    }


#: The emulator's CDN signing key (Discord's is private; only the emulator checks these).
_CDN_KEY = b"emulator-cdn-signing-key"


def cdn_signature(path: str, ex: str, issued: str) -> str:
    return hmac.new(_CDN_KEY, f"{path}?ex={ex}&is={issued}".encode(), hashlib.sha256).hexdigest()


def attachment_url(a: StoredAttachment, base_url: str) -> str:
    """The attachment's CDN URL, signed as Discord signs them: ``ex`` (expiry) and ``is`` (issue
    time) as hex Unix seconds, ``hm`` the signature over both."""
    path = f"/attachments/{a.channel_id}/{a.id}/{a.filename}"
    ex, issued = f"{int(min(a.expires, 2**40)):x}", f"{int(a.issued):x}"
    return f"{base_url}{path}?ex={ex}&is={issued}&hm={cdn_signature(path, ex, issued)}&"


def attachment(a: StoredAttachment, base_url: str) -> JSON:
    url = attachment_url(a, base_url)
    body: JSON = {
        "id": str(a.id),
        "filename": a.filename,
        "size": len(a.data),
        "url": url,
        "proxy_url": url,
        "content_type": a.content_type,
        "description": a.description,
    }
    if a.width is not None:
        body["width"], body["height"] = a.width, a.height
    return body


def message(m: Message, world: World, base_url: str, interactions: dict[int, Interaction]) -> JSON:
    author = world.user(m.author_id) or world.bot
    source = interactions.get(m.interaction_id) if m.interaction_id is not None else None
    guild = world.guild_of(m.channel_id) or world.guild
    body: JSON = {
        "id": str(m.id),
        "channel_id": str(m.channel_id),
        "guild_id": str(guild.id),
        "type": CHAT_INPUT_REPLY
        if source is not None and source.type == COMMAND_INTERACTION
        else DEFAULT_MESSAGE,
        "content": m.content,
        "author": user(author),
        "timestamp": iso(SnowflakeGenerator.timestamp(m.id)),
        "edited_timestamp": iso(m.edited_at) if m.edited_at is not None else None,
        "tts": m.tts,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "mention_channels": [],
        "attachments": [attachment(a, base_url) for a in m.attachments],
        "embeds": m.embeds,
        "reactions": [],
        "pinned": False,
        "components": m.components,
        "flags": m.flags,
        "nonce": m.nonce,
        "sticker_items": [],
        "position": 0,
    }
    member_of_author = guild.member(author.id)
    if member_of_author is not None:
        body["member"] = {k: v for k, v in member(guild, member_of_author).items() if k != "user"}
    if source is not None:
        body["webhook_id"] = str(world.application_id)
        body["application_id"] = str(world.application_id)
        invoker = world.user(source.user_id) or world.member
        body["interaction_metadata"] = {
            "id": str(source.id),
            "type": source.type,
            "user": user(invoker),
            "authorizing_integration_owners": {"0": str(guild.id)},
        }
        if source.message_id is not None:
            body["interaction_metadata"]["interacted_message_id"] = str(source.message_id)
    return body


def interaction(i: Interaction, world: World, *, size_limit: int, message_body: JSON | None = None) -> JSON:
    g = world.guild_of(i.channel_id)
    if g is None:
        raise ValueError(f"unknown channel {i.channel_id}")
    invoker = g.member(i.user_id)
    if invoker is None:
        raise ValueError(f"user {i.user_id} is not a member of the guild")
    chan = g.channel(i.channel_id)
    if chan is None:
        raise ValueError(f"unknown channel {i.channel_id}")
    body: JSON = {
        "id": str(i.id),
        "application_id": str(world.application_id),
        "type": i.type,
        "token": i.token,
        "version": 1,
        "data": i.data,
        "guild_id": str(g.id),
        "guild": {"id": str(g.id), "locale": g.locale, "features": []},
        "channel_id": str(chan.id),
        "channel": {**channel(g, chan), "permissions": str(g.permissions(i.user_id))},
        "member": member(g, invoker, with_permissions=True),
        "app_permissions": str(g.permissions(world.bot.id)),
        "locale": invoker.user.locale,
        "guild_locale": g.locale,
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(g.id)},
        "context": 0,
        "attachment_size_limit": size_limit,
    }
    if message_body is not None:
        body["message"] = message_body
    return body
