"""The pre-seeded Discord world: bot user and application, guilds with roles, channels and humans."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from .clock import SnowflakeGenerator

T = TypeVar("T")

# Permission bits (https://discord.com/developers/docs/topics/permissions).
ADMINISTRATOR = 1 << 3
ALL_PERMISSIONS = (1 << 51) - 1
MEMBER_PERMISSIONS = (
    (1 << 0)  # CREATE_INSTANT_INVITE
    | (1 << 6)  # ADD_REACTIONS
    | (1 << 10)  # VIEW_CHANNEL
    | (1 << 11)  # SEND_MESSAGES
    | (1 << 14)  # EMBED_LINKS
    | (1 << 15)  # ATTACH_FILES
    | (1 << 16)  # READ_MESSAGE_HISTORY
    | (1 << 18)  # USE_EXTERNAL_EMOJIS
    | (1 << 20)  # CONNECT
    | (1 << 21)  # SPEAK
    | (1 << 26)  # CHANGE_NICKNAME
    | (1 << 31)  # USE_APPLICATION_COMMANDS
    | (1 << 38)  # SEND_MESSAGES_IN_THREADS
)
GUILD_TEXT = 0


@dataclass
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    #: The language of the user's Discord client (an interaction's ``locale``).
    locale: str = "en-US"


@dataclass
class Role:
    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False


@dataclass
class Channel:
    id: int
    name: str
    position: int
    nsfw: bool = False
    topic: str | None = None
    type: int = GUILD_TEXT


@dataclass
class Member:
    user: User
    role_ids: list[int]
    joined_at: str = "2024-01-01T00:00:00+00:00"


class _Positions(Generic[T]):
    """Where each key's item sits in a list that tests and the benchmark change in place: a hit is
    checked against the list (one comparison), and a miss or a stale hit reads the list again.
    The load benchmark looks members and channels up for every event and request (a scan cost it
    a tenth of the emulator's time with 200 members, docs/performance.md)."""

    def __init__(self, keys: Callable[[T], Sequence[Hashable]]) -> None:
        self._keys = keys
        self._at: dict[Hashable, int] = {}

    def find(self, items: list[T], key: Hashable) -> T | None:
        at = self._at.get(key)
        if at is not None and at < len(items) and key in self._keys(items[at]):
            return items[at]
        self._at = {k: n for n, item in reversed(list(enumerate(items))) for k in self._keys(item)}
        at = self._at.get(key)
        return items[at] if at is not None else None


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    roles: list[Role]
    channels: list[Channel]
    members: list[Member]
    premium_tier: int = 0
    #: The server's language (``preferred_locale``, an interaction's ``guild_locale``).
    locale: str = "en-US"
    _members: _Positions[Member] = field(
        default_factory=lambda: _Positions(lambda m: (m.user.id,)), repr=False, compare=False
    )
    _channels: _Positions[Channel] = field(
        default_factory=lambda: _Positions(lambda c: (c.id, c.name)), repr=False, compare=False
    )

    @property
    def everyone(self) -> Role:
        return next(r for r in self.roles if r.id == self.id)

    def member(self, user_id: int) -> Member | None:
        return self._members.find(self.members, user_id)

    def channel(self, key: int | str) -> Channel | None:
        return self._channels.find(self.channels, key)

    def permissions(self, user_id: int) -> int:
        """Guild-level permissions: owner and ADMINISTRATOR get everything (no channel overwrites)."""
        member = self.member(user_id)
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        bits = self.everyone.permissions
        for role in self.roles:
            if member is not None and role.id in member.role_ids:
                bits |= role.permissions
        return ALL_PERMISSIONS if bits & ADMINISTRATOR else bits


def shard_of(guild_id: int, shard_count: int) -> int:
    """The gateway shard that receives a guild's events (Discord's rule)."""
    return (guild_id >> 22) % shard_count


@dataclass
class World:
    token: str
    bot: User
    application_id: int
    application_name: str
    #: The first is the default guild (tests, the playground); the others, where sharding is tried.
    guilds: list[Guild]
    admin: User
    member: User

    @property
    def guild(self) -> Guild:
        return self.guilds[0]

    @classmethod
    def default(cls, ids: SnowflakeGenerator, *, token: str = "sandbox-token", guilds: int = 1) -> World:
        bot = User(ids.next(), "mjbot", "mjbot", bot=True)
        admin = User(ids.next(), "alice", "Alice (admin)")
        member = User(ids.next(), "bob", "Bob")
        made: list[Guild] = []
        for n in range(guilds):
            shard = (shard_of(made[0].id, guilds) + n) % guilds if made else 0
            # With as many shards as guilds, each guild is on a shard of its own.
            guild_id = ids.next_on_shard(shard, guilds) if made else ids.next()
            admin_role = Role(ids.next(), "Admin", ADMINISTRATOR, position=2)
            bot_role = Role(ids.next(), "mjbot", MEMBER_PERMISSIONS, position=1, managed=True)
            roles = [Role(guild_id, "@everyone", MEMBER_PERMISSIONS), bot_role, admin_role]
            channels = [
                Channel(ids.next(), "general", 0, topic="Say hi"),
                Channel(ids.next(), "art", 1, topic="Images"),
                Channel(ids.next(), "after-dark", 2, nsfw=True, topic="Age-restricted"),
            ]
            members = [Member(bot, [bot_role.id]), Member(admin, [admin_role.id]), Member(member, [])]
            name = "Sandbox" if n == 0 else f"Sandbox {n + 1}"
            made.append(Guild(guild_id, name, admin.id, roles, channels, members))
        # A bot's application id equals its user id on Discord.
        return cls(token, bot, bot.id, "mjbot", made, admin, member)

    def user(self, user_id: int) -> User | None:
        member = self.guild.member(user_id)
        return member.user if member is not None else None

    def guild_by_id(self, guild_id: int) -> Guild | None:
        return next((g for g in self.guilds if g.id == guild_id), None)

    def guild_of(self, channel_id: int) -> Guild | None:
        """The guild a channel is in."""
        return next((g for g in self.guilds if g.channel(channel_id) is not None), None)

    def channel(self, channel_id: int) -> Channel | None:
        guild = self.guild_of(channel_id)
        return guild.channel(channel_id) if guild is not None else None
