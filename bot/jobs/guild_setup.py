"""A server's setup by its admins: accounts (add, edit, remove, reset, test), the guild's
configuration with its audit trail, and what the services say of their Midjourney accounts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

from bot.backends import check_options
from bot.backends.base import Backend, Capability, SupportsServiceAccounts, SupportsServiceStatus
from bot.crypto import SECRET_LOST
from bot.domain import (
    MEMBER_SOURCE,
    Account,
    BackendError,
    BackendKind,
    ErrorKind,
    GuildConfig,
    ServiceAccount,
)
from bot.i18n import Msg, joined, said, tr
from bot.jobs.accounts import AccountPool
from bot.jobs.calls import UserError, guarded
from bot.jobs.dispatch import Dispatcher
from bot.net import same_origin, shown_url
from bot.store import Store
from bot.store.coordination import News

#: Why an account whose address changed is out of rotation: its secret was dropped with the move.
NEEDS_SECRET = "its address changed, so its secret was cleared: enter it again with /setup account secret"
#: What ``/setup account test`` and ``mjbot check`` say of an account whose probe succeeded.
PROBE_OK = tr("the service answered and accepted the credentials.")
#: What a probe says of an account whose service refused its credentials.
PROBE_REFUSED = tr("the service refused the bot's credentials.")
#: How long a probe waits for the service.
PROBE_SECONDS = 20.0


class GuildSetup:
    """Account administration and guild configuration; every change is audited."""

    def __init__(
        self,
        store: Store,
        accounts: AccountPool,
        dispatcher: Dispatcher,
        config_secrets: Mapping[int, str] | None = None,
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._dispatcher = dispatcher
        #: Secrets of config-file accounts by id: they live in memory only.
        self._config_secrets = dict(config_secrets or {})

    async def reload_accounts(self) -> None:
        """Make the account pool match the store (after a change, and at start), and tell the
        other processes to (the dispatcher assigns jobs to any server's accounts: docs/scaling.md)."""
        await self.sync_accounts()
        await self._store.notify(News("accounts"))

    async def sync_accounts(self) -> None:
        """Make the account pool match the store."""
        self._accounts.sync(await self._store.list_accounts(), self._config_secrets)

    async def configure(
        self, guild_id: int, user_id: int, action: str, change: Callable[[GuildConfig], GuildConfig]
    ) -> GuildConfig:
        """Apply ``change`` to the guild's setup, and audit it as ``action``."""
        config = change(await self._store.guild_config(guild_id))
        await self._store.set_guild_config(guild_id, config)
        await self._store.audit(guild_id, user_id, "configure", action)
        return config

    async def accounts(self, guild_id: int) -> list[tuple[Account, int]]:
        """The guild's accounts (members' own left out) with the jobs each is running now."""
        busy = await self._store.active_counts()
        now = time.monotonic()
        shown = []
        for account in self._accounts.for_guild(guild_id):
            if account.source == MEMBER_SOURCE:
                continue
            rest = self._dispatcher.cooldowns.resting(account.id)
            if rest and not account.quarantine_reason:
                minutes = (self._dispatcher.cooldowns.until(account.id) - now) / 60
                account = account.model_copy(
                    update={"quarantine_reason": f"resting {minutes:.0f} min: {rest}"}
                )
            shown.append((account, busy.get(account.id, 0)))
        return shown

    async def _check_account_fields(self, kind: BackendKind, fields: Mapping[str, Any]) -> None:
        """UserError when an admin's account would have options its service lacks, or an address
        the operator keeps admins' accounts away from."""
        try:
            check_options(kind, fields.get("options", {}))
        except ValueError as exc:
            raise UserError(said(exc)) from None
        if "base_url" in fields and await self._accounts.refused_address(fields["base_url"]):
            raise UserError(
                tr(
                    "That address is on a private or local network, which the bot's operator does not "
                    "allow for accounts added here. Use the service's public address."
                )
            )

    async def add_account(self, guild_id: int, user_id: int, **fields: Any) -> Account:
        await self._check_account_fields(fields["kind"], fields)
        try:
            account = await self._store.add_account(guild_id=guild_id, created_by=user_id, **fields)
        except ValueError:  # the store's contract: the guild already has an account of that name
            raise UserError(
                tr(
                    "An account named {name!r} already exists. Choose another name, or edit that account.",
                    name=fields["name"],
                )
            ) from None
        await self._store.audit(guild_id, user_id, "account add", _describe_account(account))
        await self.reload_accounts()
        return account

    async def _admin_account(self, guild_id: int, name: str) -> Account:
        account = await self._store.get_account(guild_id, name)
        if account is None or account.source == MEMBER_SOURCE:
            raise UserError(
                tr("This server has no account named {name!r}. See /setup account list.", name=name)
            )
        if account.source == "config":
            raise UserError(tr("{name!r} is declared in the bot's config file; change it there.", name=name))
        return account

    async def edit_account(self, guild_id: int, user_id: int, name: str, **fields: Any) -> Account:
        """Change an admin's account. A new scheme, host or port drops the stored secret (it must
        not follow the account to a host of the editor's choosing) and keeps the account out of
        rotation until a secret is entered again."""
        account = await self._admin_account(guild_id, name)
        await self._check_account_fields(account.kind, fields)
        moved = "base_url" in fields and not same_origin(fields["base_url"], account.base_url)
        if moved and "secret" not in fields:
            fields["secret"] = ""
            await self._store.set_account_quarantine(account.id, NEEDS_SECRET)
        elif "secret" in fields and account.quarantine_reason == NEEDS_SECRET:
            await self._store.set_account_quarantine(account.id, None)
        if fields:
            await self._store.update_account(account.id, **fields)
        shown = ", ".join(_shown_field(k, v) for k, v in fields.items())
        await self._store.audit(guild_id, user_id, "account edit", f"{name}: {shown or 'nothing'}")
        await self.reload_accounts()
        return await self._admin_account(guild_id, name)

    async def remove_account(self, guild_id: int, user_id: int, name: str) -> None:
        account = await self._admin_account(guild_id, name)
        running = (await self._store.active_counts()).get(account.id, 0)
        if running:
            raise UserError(
                tr(
                    "{name!r} has {running} jobs running. Disable it (/setup account edit enabled:False), "
                    "then remove it once they finish.",
                    name=name,
                    running=running,
                )
            )
        await self._store.remove_account(account.id)
        await self._store.audit(guild_id, user_id, "account remove", name)
        await self.reload_accounts()

    async def _known_account(self, guild_id: int, name: str) -> Account:
        """The guild's shared account ``name`` (config-file ones too); a UserError when none."""
        account = await self._store.get_account(guild_id, name)
        if account is None or account.source == MEMBER_SOURCE:
            raise UserError(
                tr("This server has no account named {name!r}. See /setup account list.", name=name)
            )
        return account

    async def reset_account(self, guild_id: int, user_id: int, name: str) -> str:
        """Put a quarantined account back into rotation (config-file accounts too), and ask its
        service to release the Midjourney accounts it holds for moderation; a sentence saying so."""
        account = await self._known_account(guild_id, name)
        if account.quarantine_reason == SECRET_LOST:
            raise UserError(
                tr(
                    "The secret of {name!r} was sealed with another key: enter it again with "
                    "/setup account secret.",
                    name=name,
                )
            )
        released = await self._release_held(account)
        await self._store.set_account_quarantine(account.id, None)
        self._accounts.quarantine(account.id, None)
        await self._store.audit(guild_id, user_id, "account reset", name)
        self._dispatcher.wake(guild_id)
        back = tr("**{name}** is back in rotation.", name=name)
        return joined([back, released] if released else [back])

    async def _release_held(self, account: Account) -> Msg | None:
        """Reset, at the service, the Midjourney accounts it holds for this account; what was done,
        as a sentence to append (None when nothing was held)."""
        try:
            held = [s.name for s in await self.service_accounts(account) if s.hold]
            resetter = cast(SupportsServiceAccounts, self._accounts.backend(account.id))
            for channel in held:
                async with asyncio.timeout(PROBE_SECONDS):
                    await resetter.reset_service_account(channel)
        except (BackendError, TimeoutError):
            return tr(
                "The service could not be asked to release its held Midjourney accounts: check "
                "/setup account test, then reset again."
            )
        if not held:
            return None
        return tr("The service was asked to put {held} back into rotation too.", held=", ".join(held))

    async def service_accounts(self, account: Account) -> list[ServiceAccount]:
        """The Midjourney accounts the account's service drives for it ([] when its service keeps
        none); BackendError when they cannot be read within PROBE_SECONDS."""
        backend = self._accounts.backend(account.id)
        if Capability.SERVICE_ACCOUNTS not in backend.capabilities:
            return []
        call = cast(SupportsServiceAccounts, backend).service_accounts()
        try:
            async with asyncio.timeout(PROBE_SECONDS):
                return await guarded(backend, 0, "service_accounts", call)
        except TimeoutError:
            raise BackendError(ErrorKind.TIMEOUT, "no answer in time") from None

    async def service_status(self, guild_id: int) -> dict[int, list[ServiceAccount] | None]:
        """For each of the guild's accounts whose service lists its Midjourney accounts: that
        list, or None when it could not be read."""

        async def read(account: Account) -> list[ServiceAccount] | None:
            try:
                return await self.service_accounts(account)
            except BackendError:
                return None

        listing = [
            account
            for account, _ in await self.accounts(guild_id)
            if Capability.SERVICE_ACCOUNTS in self._accounts.backend(account.id).capabilities
        ]
        found = await asyncio.gather(*(read(a) for a in listing))
        return {account.id: status for account, status in zip(listing, found, strict=True)}

    async def service_summaries(self, guild_id: int) -> dict[int, str]:
        """For each of the guild's accounts whose service sums up its own accounts and queue
        (midjourney-proxy, by flavour): that line, where it answered in time."""
        listing = [account for account, _ in await self.accounts(guild_id)]
        found = await asyncio.gather(*(_service_status(self._accounts.backend(a.id)) for a in listing))
        return {account.id: line for account, line in zip(listing, found, strict=True) if line}

    async def test_account(self, guild_id: int, name: str) -> str:
        """Call the account's service cheaply; a sentence saying whether it works."""
        account = await self._known_account(guild_id, name)
        backend = self._accounts.backend(account.id)
        problem: str | None = await probe(backend)
        if problem == PROBE_REFUSED:
            problem = joined([PROBE_REFUSED, tr("Replace them: /setup account secret.")])
        if problem is None:
            try:
                held = [s for s in await self.service_accounts(account) if s.hold]
            except BackendError:
                problem = tr("the service's list of Midjourney accounts could not be read.")
            else:
                problem = held_sentence(held[0]) if held else None
        if problem:
            return tr("❌ {name}: {problem}", name=name, problem=problem)
        status = await _service_status(backend)
        return tr(
            "✅ {name}: {result}", name=name, result=joined([PROBE_OK, status] if status else [PROBE_OK])
        )


async def probe(backend: Backend, timeout: float = PROBE_SECONDS) -> str | None:  # noqa: ASYNC109
    """Call the service cheaply: None when it answered and accepted the credentials, else a sentence
    saying why not. Only a status: what the service answered is never shown (the address may be
    anyone's, and its answer anything)."""
    try:
        async with asyncio.timeout(timeout):
            # Asking for a task that cannot exist proves the address and the credentials.
            await backend.fetch("0")
    except TimeoutError:
        return tr("the service did not answer within {timeout:g} s. Check the base URL.", timeout=timeout)
    except BackendError as exc:
        if exc.kind is ErrorKind.AUTH:
            return PROBE_REFUSED
        if exc.kind is not ErrorKind.NOT_FOUND:
            return tr("the service is unreachable or gave no usable answer. Check the base URL.")
    return None


async def _service_status(backend: Backend, timeout: float = PROBE_SECONDS) -> str | None:  # noqa: ASYNC109
    """The service's own summary line (its accounts and queue), when it offers one in time."""
    if Capability.SERVICE_STATUS not in backend.capabilities:
        return None
    try:
        async with asyncio.timeout(timeout):
            return await cast(SupportsServiceStatus, backend).service_status()
    except (BackendError, TimeoutError):
        return None


def held_sentence(held: ServiceAccount) -> Msg:
    """What a moderation hold at the service means for an admin (its message: one short line)."""
    message = " ".join((held.hold or "").split())[:200]
    return tr(
        "Midjourney holds account {name} for moderation or a CAPTCHA (“{message}”). Clear it in "
        "Discord, then /setup account reset.",
        name=held.name,
        message=message,
    )


def _describe_account(account: Account) -> str:
    """An account for the audit log: everything but the secret."""
    channel = f", channel {account.channel_id}" if account.channel_id else ""
    address = shown_url(account.base_url)
    return f"{account.name}: {account.kind.value} at {address}, max {account.max_jobs} jobs{channel}"


def _shown_field(key: str, value: Any) -> str:
    """An account field for the audit log: no secret, no credentials inside an address."""
    if key == "secret":
        return "secret=***"
    return f"{key}={shown_url(value) if key == 'base_url' else value}"
