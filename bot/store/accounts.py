"""Backend accounts in the store: made from the config file, by admins, or by a member signing in
to AIMG (members.py); their secrets sealed with the store's box; removed ones kept for history."""

from __future__ import annotations

import json
import time
from typing import Any

from bot.crypto import SECRET_LOST, SecretBox
from bot.domain import Account, BackendKind
from bot.store.db import Database, DuplicateError, Row


class Accounts:
    """The account calls of :class:`bot.store.Store`."""

    _db: Database
    #: Seals account secrets written by the bot; None keeps them as given (tests).
    _box: SecretBox | None

    async def upsert_config_account(
        self,
        *,
        guild_id: int,
        name: str,
        kind: BackendKind,
        base_url: str,
        max_jobs: int,
        channel_id: int | None,
        options: dict[str, str],
    ) -> int:
        """Create or refresh an account declared in the config file; returns its id.

        Its secret stays in the config (never written here); its quarantine state is kept.
        """
        await self._db.execute(
            """INSERT INTO accounts (guild_id, name, kind, base_url, max_jobs, channel_id, source, options)
               VALUES (?, ?, ?, ?, ?, ?, 'config', ?)
               ON CONFLICT (guild_id, name) DO UPDATE SET kind = excluded.kind,
                   base_url = excluded.base_url, max_jobs = excluded.max_jobs,
                   channel_id = excluded.channel_id, source = 'config', options = excluded.options""",
            (guild_id, name, kind.value, base_url, max_jobs, channel_id, json.dumps(options)),
        )
        row = await self._db.fetchone(
            "SELECT id FROM accounts WHERE guild_id = ? AND name = ?", (guild_id, name)
        )
        assert row is not None
        return int(row["id"])

    async def list_accounts(self, guild_id: int | None = None) -> list[Account]:
        """Accounts not removed, their secrets unsealed."""
        sql = "SELECT * FROM accounts WHERE removed_at IS NULL"
        args: tuple[Any, ...] = ()
        if guild_id is not None:
            sql += " AND guild_id = ?"
            args = (guild_id,)
        rows = await self._db.fetchall(sql + " ORDER BY id", args)
        return [self._account(r) for r in rows]

    def _seal(self, secret: str) -> str:
        return self._box.seal(secret) if self._box else secret

    def _account(self, row: Row) -> Account:
        """The account of ``row``, its secret unsealed (one that does not open quarantines it)."""
        account = _account(row)
        if self._box is None or not account.secret:
            return account
        secret = self._box.open(account.secret)
        if secret is None:
            return account.model_copy(update={"secret": "", "quarantine_reason": SECRET_LOST})
        return account.model_copy(update={"secret": secret})

    async def add_account(
        self,
        *,
        guild_id: int,
        name: str,
        kind: BackendKind,
        base_url: str,
        secret: str,
        max_jobs: int,
        channel_id: int | None,
        options: dict[str, str],
        created_by: int,
    ) -> Account:
        """A new admin-made account; ValueError when the guild already has one of that name."""
        try:
            account_id = await self._db.insert(
                """INSERT INTO accounts (guild_id, name, kind, base_url, secret, max_jobs, channel_id, source,
                       options, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, 'admin', ?, ?)""",
                (
                    guild_id,
                    name,
                    kind.value,
                    base_url,
                    self._seal(secret),
                    max_jobs,
                    channel_id,
                    json.dumps(options),
                    created_by,
                ),
            )
        except DuplicateError:
            raise ValueError(f"An account named {name!r} already exists.") from None
        account = await self.get_account(guild_id, name)
        assert account is not None and account.id == account_id
        return account

    async def get_account(self, guild_id: int, name: str) -> Account | None:
        row = await self._db.fetchone(
            "SELECT * FROM accounts WHERE guild_id = ? AND name = ? AND removed_at IS NULL", (guild_id, name)
        )
        return self._account(row) if row else None

    async def update_account(self, account_id: int, **fields: Any) -> None:
        """Change base_url, max_jobs, channel_id, enabled, options or secret (sealed here)."""
        allowed = {"base_url", "max_jobs", "channel_id", "enabled", "options", "secret"}
        if set(fields) - allowed:
            raise ValueError(f"not updatable: {sorted(set(fields) - allowed)}")
        values = [
            self._seal(v)
            if k == "secret"
            else json.dumps(v)
            if k == "options"
            else int(v)
            if k == "enabled"
            else v
            for k, v in fields.items()
        ]
        assignments = ", ".join(f"{k} = ?" for k in fields)
        await self._db.execute(f"UPDATE accounts SET {assignments} WHERE id = ?", (*values, account_id))

    async def remove_account(self, account_id: int) -> None:
        """Take an account out for good; its jobs keep pointing at it (history), its name is freed."""
        await self._db.execute(
            "UPDATE accounts SET removed_at = ?, enabled = 0, secret = '', name = name || '~removed~' || id "
            "WHERE id = ?",
            (time.time(), account_id),
        )

    async def set_account_quarantine(self, account_id: int, reason: str | None) -> None:
        await self._db.execute("UPDATE accounts SET quarantine_reason = ? WHERE id = ?", (reason, account_id))


def _account(row: Row) -> Account:
    return Account(
        id=row["id"],
        guild_id=row["guild_id"],
        name=row["name"],
        kind=BackendKind(row["kind"]),
        base_url=row["base_url"],
        secret=row["secret"],
        max_jobs=row["max_jobs"],
        channel_id=row["channel_id"],
        enabled=bool(row["enabled"]),
        source=row["source"],
        quarantine_reason=row["quarantine_reason"],
        options=json.loads(row["options"]),
    )
