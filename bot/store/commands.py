"""Commands the bot answered before their work was stored: acknowledged commands whose job is not
stored yet (run again after a restart) and mask editor links, each usable once."""

from __future__ import annotations

import json
import time

from bot.domain import AckedCommand
from bot.store.db import Database


class Commands:
    """The command calls of :class:`bot.store.Store`."""

    _db: Database

    async def record_command(self, command: AckedCommand) -> None:
        await self._db.execute(
            """INSERT INTO acked_commands (interaction_id, application_id, token, guild_id,
                   channel_id, user_id, command, payload, message_id, acked_at, expires)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
            (
                command.interaction_id,
                command.application_id,
                command.token,
                command.guild_id,
                command.channel_id,
                command.user_id,
                command.command,
                json.dumps(command.payload),
                command.message_id,
                command.acked_at,
                command.expires,
            ),
        )

    async def acked_commands(self, before: float) -> list[AckedCommand]:
        """Commands acknowledged before ``before`` whose job was never stored (nor the command
        answered)."""
        rows = await self._db.fetchall(
            "SELECT * FROM acked_commands WHERE acked_at < ? ORDER BY interaction_id", (before,)
        )
        return [
            AckedCommand.model_validate({**dict(row), "payload": json.loads(row["payload"])}) for row in rows
        ]

    async def forget_command(self, interaction_id: int) -> None:
        await self._db.execute("DELETE FROM acked_commands WHERE interaction_id = ?", (interaction_id,))

    async def use_editor_link(self, nonce: str, expires: float) -> bool:
        """Record an editor link as used; False when it was used already."""
        await self._db.execute("DELETE FROM editor_links WHERE expires < ?", (time.time(),))
        added = await self._db.execute(
            "INSERT INTO editor_links (nonce, expires) VALUES (?, ?) ON CONFLICT DO NOTHING", (nonce, expires)
        )
        return added == 1

    async def editor_link_used(self, nonce: str) -> bool:
        row = await self._db.fetchone("SELECT 1 FROM editor_links WHERE nonce = ?", (nonce,))
        return row is not None

    async def release_editor_link(self, nonce: str) -> None:
        """Make a link usable again (its edit was refused before any job was made)."""
        await self._db.execute("DELETE FROM editor_links WHERE nonce = ?", (nonce,))
