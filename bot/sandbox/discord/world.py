"""The pre-seeded Discord world: bot user and application, one guild with roles, channels and humans."""

from __future__ import annotations

from dataclasses import dataclass

from .clock import SnowflakeGenerator

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


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    roles: list[Role]
    channels: list[Channel]
    members: list[Member]
    premium_tier: int = 0

    @property
    def everyone(self) -> Role:
        return next(r for r in self.roles if r.id == self.id)

    def member(self, user_id: int) -> Member | None:
        return next((m for m in self.members if m.user.id == user_id), None)

    def channel(self, key: int | str) -> Channel | None:
        return next((c for c in self.channels if key in (c.id, c.name)), None)

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


@dataclass
class World:
    token: str
    bot: User
    application_id: int
    application_name: str
    guild: Guild
    admin: User
    member: User

    @classmethod
    def default(cls, ids: SnowflakeGenerator, *, token: str = "sandbox-token") -> World:
        bot = User(ids.next(), "mjbot", "mjbot", bot=True)
        admin = User(ids.next(), "alice", "Alice (admin)")
        member = User(ids.next(), "bob", "Bob")
        guild_id = ids.next()
        admin_role = Role(ids.next(), "Admin", ADMINISTRATOR, position=2)
        bot_role = Role(ids.next(), "mjbot", MEMBER_PERMISSIONS, position=1, managed=True)
        roles = [Role(guild_id, "@everyone", MEMBER_PERMISSIONS), bot_role, admin_role]
        channels = [
            Channel(ids.next(), "general", 0, topic="Say hi"),
            Channel(ids.next(), "art", 1, topic="Images"),
            Channel(ids.next(), "after-dark", 2, nsfw=True, topic="Age-restricted"),
        ]
        members = [Member(bot, [bot_role.id]), Member(admin, [admin_role.id]), Member(member, [])]
        guild = Guild(guild_id, "Sandbox", admin.id, roles, channels, members)
        # A bot's application id equals its user id on Discord.
        return cls(token, bot, bot.id, "mjbot", guild, admin, member)

    def user(self, user_id: int) -> User | None:
        member = self.guild.member(user_id)
        return member.user if member is not None else None
