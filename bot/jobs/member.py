"""What a member keeps and asks about outside a job: their /settings panel (the service's own or
the bot's flags), their /prefer suffix, a result's seed, and the service account's status."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping, Sequence
from typing import TypeVar, cast

from bot.backends import kinds_with, registered, service_name
from bot.backends.base import Capability, SupportsAccountInfo, SupportsSeed, SupportsSettings
from bot.domain import (
    Account,
    BackendError,
    BackendKind,
    GuildConfig,
    Job,
    JobKind,
    JobStatus,
    SettingsState,
    UserPrefs,
)
from bot.i18n import joined, tr
from bot.jobs import mj_settings
from bot.jobs.accounts import AccountPool
from bot.jobs.calls import UserError, cannot, capable, guarded
from bot.jobs.prompt_rules import banned_term
from bot.jobs.rules import check_text, day_start, job_kinds
from bot.store import Store

#: How long a member waits for a service's settings panel before being told it is not answering.
SETTINGS_TIMEOUT = 30.0
#: How long an account's /info answer is reused (seconds).
ACCOUNT_INFO_SECONDS = 60.0
#: Where an account takes an edited prompt for a button (Remix).
_REMIX = frozenset({Capability.REMIX})

_T = TypeVar("_T")


class MemberCommands:
    """/settings, /prefer suffix, /seed and /info's account status, for one member at a time."""

    def __init__(self, store: Store, accounts: AccountPool) -> None:
        self._store = store
        self._accounts = accounts
        #: Account id → (when, fields) of its last account_info answer.
        self._account_info: dict[int, tuple[float, Mapping[str, str]]] = {}

    async def usage(self, guild_id: int, user_id: int) -> tuple[int, int]:
        """(jobs the member has waiting or running, jobs started today UTC)."""
        return await self._store.member_job_counts(guild_id, user_id, since=day_start())

    async def set_suffix(self, guild_id: int, user_id: int, suffix: str) -> UserPrefs:
        """Keep the member's /prefer suffix (empty: none); refused with the usual sentence when it
        is not plain text or holds one of the server's banned words."""
        suffix = suffix.strip()
        check_text(suffix, "suffix")
        banned = banned_term(suffix, await self._store.guild_config(guild_id))
        if banned:
            raise UserError(
                tr(
                    "The suffix contains “{banned}”, which this server does not allow. Choose another.",
                    banned=banned,
                )
            )
        current = await self._store.user_prefs(guild_id, user_id)
        prefs = UserPrefs.model_validate({**current.model_dump(), "suffix": suffix})
        await self._store.set_user_prefs(guild_id, user_id, prefs)
        return prefs

    async def _settings_backend(self, guild_id: int, channel_id: int) -> SupportsSettings | None:
        """The account whose own settings the channel's panel shows; None when the bot keeps
        them. A UserError when no Midjourney service answers in the channel."""
        config = await self._store.guild_config(guild_id)
        accounts = imagine_accounts(self._accounts, config, guild_id, channel_id)
        if not accounts:
            others = {a.kind for a in self._accounts.shared(guild_id, channel_id) if a.enabled}
            names = " and ".join(sorted(service_name(k) for k in others))
            if names:
                raise UserError(
                    tr(
                        "{names} has no Midjourney settings to change. Use /settings where /imagine works.",
                        names=names,
                    )
                )
            raise UserError(tr("The bot has no image service set up for this channel. Ask a server admin."))
        if not service_keeps_settings(accounts):
            return None
        usable = [a for a in accounts if self._accounts.usable(a.id)]
        if not usable:
            raise UserError(
                tr(
                    "{service} is out of rotation now. Try /settings later.",
                    service=service_name(accounts[0].kind),
                )
            )
        return cast(SupportsSettings, self._accounts.backend(usable[0].id))

    def _bot_kept_labels(self, guild_id: int, channel_id: int, config: GuildConfig) -> list[str]:
        """The panel's labels that change what the bot sends to the channel's services: the
        prompt flags, and Remix where a service can take an edited prompt."""
        accounts = imagine_accounts(self._accounts, config, guild_id, channel_id)
        return mj_settings.offered(remix=any(self._accounts.offers(a.id, _REMIX) for a in accounts))

    async def check_remix(self, guild_id: int, channel_id: int) -> None:
        """A UserError naming the channel's services when none takes an edited prompt for a
        button, so Remix mode would change nothing there."""
        config = await self._store.guild_config(guild_id)
        accounts = imagine_accounts(self._accounts, config, guild_id, channel_id)
        if not any(self._accounts.offers(a.id, _REMIX) for a in accounts):
            names = self._accounts.services(accounts) or tr("No image service here")
            raise UserError(
                joined([cannot(Capability.REMIX, names), tr("Remix mode would change nothing here.")])
            )

    async def settings(self, guild_id: int, user_id: int, channel_id: int) -> SettingsState:
        """The /settings state in a channel: its service's own when it keeps one, else the
        member's, with only the toggles that change what the channel's services get."""
        backend = await self._settings_backend(guild_id, channel_id)
        if backend is not None:
            return await _in_time(backend.settings_state())
        prefs = await self._store.user_prefs(guild_id, user_id)
        config = await self._store.guild_config(guild_id)
        offered = self._bot_kept_labels(guild_id, channel_id, config)
        return SettingsState(
            active=mj_settings.active(prefs) & set(offered),
            suffix=mj_settings.suffix(prefs),
            available=offered,
        )

    async def toggle_setting(self, guild_id: int, user_id: int, channel_id: int, label: str) -> SettingsState:
        """Press a /settings toggle (or choose a version) in a channel and return the new state;
        a UserError naming the services when the toggle would change nothing there."""
        prefs = await self._store.user_prefs(guild_id, user_id)
        try:
            changed = mj_settings.toggle(prefs, label)
        except ValueError:
            raise UserError(tr("{label!r} is not a setting.", label=label)) from None
        backend = await self._settings_backend(guild_id, channel_id)
        if backend is not None:
            state = await _in_time(backend.press_setting(label))
            # Remix decides whether the bot opens a prompt editor, so the bot keeps it too.
            remix_only = prefs.model_copy(update={"remix": changed.remix})
            await self._store.set_user_prefs(guild_id, user_id, remix_only)
            return state
        config = await self._store.guild_config(guild_id)
        if label not in self._bot_kept_labels(guild_id, channel_id, config):
            kinds = {a.kind for a in imagine_accounts(self._accounts, config, guild_id, channel_id)}
            names = " and ".join(sorted(service_name(k) for k in kinds))
            raise UserError(
                tr(
                    "{names} has no {label} the bot can switch, so it is not offered here.",
                    names=names,
                    label=label,
                )
            )
        await self._store.set_user_prefs(guild_id, user_id, changed)
        return await self.settings(guild_id, user_id, channel_id)

    async def seed(self, job: Job) -> str:
        """The seed of finished ``job``, asked of the account that made it (Midjourney's ✉️)."""
        if job.status is not JobStatus.SUCCESS or not job.image_url or job.backend_task_id is None:
            raise UserError(tr("Job #{job} has no finished image, so it has no seed.", job=job.id))
        if job.account_id is None or not self._accounts.usable(job.account_id):
            raise UserError(
                tr("The account that made job #{job} is not available any more, so no seed.", job=job.id)
            )
        backend = self._accounts.backend(job.account_id)
        seeder = capable(backend, Capability.SEED, SupportsSeed, for_member=True)
        call = guarded(backend, job.id, "seed", seeder.seed(job.backend_task_id))
        return await _in_time(call, "/seed")

    def offers_account_info(self, guild_id: int, channel_id: int, only: BackendKind | None = None) -> bool:
        return self._info_account(guild_id, channel_id, only) is not None

    def _info_account(self, guild_id: int, channel_id: int, only: BackendKind | None) -> Account | None:
        """The usable account of this channel (of kind ``only``, when the channel is kept to one)
        whose service tells its status, if any."""
        kinds = kinds_with(Capability.ACCOUNT_INFO) & ({only} if only else set(BackendKind))
        usable = (
            a for a in self._accounts.shared(guild_id, channel_id, kinds) if self._accounts.usable(a.id)
        )
        return next(usable, None)

    async def account_info(
        self, guild_id: int, channel_id: int, only: BackendKind | None = None
    ) -> tuple[str, Mapping[str, str]] | None:
        """The status of the service account this channel's jobs use, where its service tells it
        (``(service, fields)``); None where none does. Asked on demand only and kept
        ACCOUNT_INFO_SECONDS per account: the services ask not to be polled for it."""
        account = self._info_account(guild_id, channel_id, only)
        if account is None:
            return None
        backend = self._accounts.backend(account.id)
        cached = self._account_info.get(account.id)
        if cached is None or time.monotonic() - cached[0] > ACCOUNT_INFO_SECONDS:
            call = guarded(backend, 0, "account info", cast(SupportsAccountInfo, backend).account_info())
            cached = (time.monotonic(), await _in_time(call, "/info"))
            self._account_info[account.id] = cached
        return backend.service, cached[1]


def imagine_accounts(
    accounts: AccountPool, config: GuildConfig, guild_id: int, channel_id: int
) -> list[Account]:
    """The enabled shared accounts an /imagine in the channel may go to."""
    kinds = job_kinds(JobKind.IMAGINE, channel_id, config)
    return [a for a in accounts.shared(guild_id, channel_id, kinds) if a.enabled]


def service_keeps_settings(accounts: Sequence[Account]) -> bool:
    """Whether the /settings panel is the service's own: every account an /imagine may go to
    keeps Midjourney settings itself (TheNextLeg). Otherwise the bot keeps them, as flags."""
    return bool(accounts) and all(Capability.SETTINGS in registered()[a.kind].capabilities for a in accounts)


async def _in_time(call: Awaitable[_T], command: str = "/settings") -> _T:
    try:
        async with asyncio.timeout(SETTINGS_TIMEOUT):
            return await call
    except TimeoutError:
        raise UserError(
            tr("The image service did not answer in time. Try {command} again in a minute.", command=command)
        ) from None
    except BackendError as exc:
        raise UserError(exc.user_message) from None
