"""What each guild keeps in the store: its config, its members' preferences and its audit log."""

from __future__ import annotations

import time

from bot.domain import AuditEntry, GuildConfig, UserPrefs
from bot.store.db import Database


class Guilds:
    """The guild calls of :class:`bot.store.Store`."""

    _db: Database

    async def guild_config(self, guild_id: int) -> GuildConfig:
        row = await self._db.fetchone("SELECT settings FROM guild_config WHERE guild_id = ?", (guild_id,))
        return GuildConfig.model_validate_json(row["settings"]) if row else GuildConfig()

    async def set_guild_config(self, guild_id: int, config: GuildConfig) -> None:
        await self._db.execute(
            """INSERT INTO guild_config (guild_id, settings) VALUES (?, ?)
               ON CONFLICT (guild_id) DO UPDATE SET settings = excluded.settings""",
            (guild_id, config.model_dump_json()),
        )

    async def audit(self, guild_id: int, user_id: int, action: str, detail: str) -> None:
        await self._db.execute(
            "INSERT INTO audit (guild_id, user_id, action, detail, at) VALUES (?, ?, ?, ?, ?)",
            (guild_id, user_id, action, detail, time.time()),
        )

    async def audit_log(self, guild_id: int, limit: int = 20) -> list[AuditEntry]:
        rows = await self._db.fetchall(
            "SELECT * FROM audit WHERE guild_id = ? ORDER BY at DESC, id DESC LIMIT ?", (guild_id, limit)
        )
        return [
            AuditEntry(
                guild_id=r["guild_id"],
                user_id=r["user_id"],
                action=r["action"],
                detail=r["detail"],
                at=r["at"],
            )
            for r in rows
        ]

    async def user_prefs(self, guild_id: int, user_id: int) -> UserPrefs:
        row = await self._db.fetchone(
            "SELECT prefs FROM user_prefs WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )
        return UserPrefs.model_validate_json(row["prefs"]) if row else UserPrefs()

    async def set_user_prefs(self, guild_id: int, user_id: int, prefs: UserPrefs) -> None:
        await self._db.execute(
            """INSERT INTO user_prefs (guild_id, user_id, prefs) VALUES (?, ?, ?)
               ON CONFLICT (guild_id, user_id) DO UPDATE SET prefs = excluded.prefs""",
            (guild_id, user_id, prefs.model_dump_json()),
        )
