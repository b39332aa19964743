"""Members' own AIMG sessions (each kept as an account of theirs) and their votes on AIMG items."""

from __future__ import annotations

import json
import time

from bot.domain import MEMBER_SOURCE, Account, BackendKind
from bot.store.accounts import Accounts


class Members(Accounts):
    """The member calls of :class:`bot.store.Store`."""

    async def link_member_account(
        self, *, guild_id: int, user_id: int, base_url: str, session_id: str, email: str
    ) -> Account:
        """Store a member's signed-in AIMG session as their own account (replacing an older one)."""
        name = f"aimg-member-{user_id}"
        options = json.dumps({"owner_id": str(user_id)})
        async with self._db.transaction() as db:
            await db.execute(
                """INSERT INTO accounts (guild_id, name, kind, base_url, secret, max_jobs, source, options)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (guild_id, name) DO UPDATE SET base_url = excluded.base_url,
                       secret = excluded.secret, enabled = 1, quarantine_reason = NULL""",
                (
                    guild_id,
                    name,
                    BackendKind.AIMG.value,
                    base_url,
                    self._seal(session_id),
                    2,
                    MEMBER_SOURCE,
                    options,
                ),
            )
            await db.execute(
                """INSERT INTO aimg_member_sessions (guild_id, user_id, account_id, email, linked_at)
                   SELECT ?, ?, id, ?, ? FROM accounts WHERE guild_id = ? AND name = ?
                   ON CONFLICT (guild_id, user_id) DO UPDATE SET account_id = excluded.account_id,
                       email = excluded.email, linked_at = excluded.linked_at""",
                (guild_id, user_id, email, time.time(), guild_id, name),
            )
        account = await self.member_account(guild_id, user_id)
        assert account is not None
        return account

    async def member_account(self, guild_id: int, user_id: int) -> Account | None:
        """The member's linked AIMG account in this guild, if they linked one."""
        row = await self._db.fetchone(
            """SELECT accounts.* FROM aimg_member_sessions JOIN accounts ON accounts.id = account_id
               WHERE aimg_member_sessions.guild_id = ? AND user_id = ? AND removed_at IS NULL""",
            (guild_id, user_id),
        )
        return self._account(row) if row else None

    # ------------------------------------------------------------------- members' AIMG votes

    async def aimg_vote(self, job_id: int, user_id: int) -> str | None:
        """The member's standing vote on a job's AIMG item: ``like``, ``dislike`` or None."""
        row = await self._db.fetchone(
            "SELECT vote FROM aimg_votes WHERE job_id = ? AND user_id = ?", (job_id, user_id)
        )
        return str(row["vote"]) if row else None

    async def set_aimg_vote(self, job_id: int, user_id: int, vote: str | None) -> None:
        """Record the member's vote on a job's AIMG item; None takes it back."""
        if vote is None:
            await self._db.execute(
                "DELETE FROM aimg_votes WHERE job_id = ? AND user_id = ?", (job_id, user_id)
            )
        else:
            await self._db.execute(
                """INSERT INTO aimg_votes (job_id, user_id, vote) VALUES (?, ?, ?)
                   ON CONFLICT (job_id, user_id) DO UPDATE SET vote = excluded.vote""",
                (job_id, user_id, vote),
            )
