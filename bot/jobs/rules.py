"""What a member may ask for before anything is queued or sent: the text, the server's rules and
limits, the per-member flood limit, and which accounts a job of each kind may run on."""

from __future__ import annotations

import time
from collections.abc import Sequence

from bot.backends import kinds_with, prompt_limit, service_name
from bot.backends.base import Capability, image_prompt
from bot.domain import BackendKind, GuildConfig, Job, JobKind
from bot.i18n import joined, tr
from bot.jobs.accounts import AccountPool
from bot.jobs.calls import UserError, cannot
from bot.jobs.prompt_rules import banned_term, text_problem
from bot.store import Store

#: Longest prompt accepted; Midjourney's own limit is about 6000 characters.
MAX_PROMPT_CHARS = 4000

AIMG_KINDS = frozenset({BackendKind.AIMG})
#: Midjourney's commands run on every other kind of account.
_MIDJOURNEY = frozenset(BackendKind) - AIMG_KINDS

#: The capability a new job of each kind needs (imagine is every backend's own).
_CAPABILITY_OF: dict[JobKind, Capability] = {
    JobKind.BLEND: Capability.BLEND,
    JobKind.DESCRIBE: Capability.DESCRIBE,
    JobKind.SHORTEN: Capability.SHORTEN,
    JobKind.GENERATE: Capability.GENERATE,
}
#: The capability that does a job kind's work from the images' URLs instead of their bytes.
_URL_CAPABILITY_OF: dict[JobKind, Capability] = {
    JobKind.BLEND: Capability.BLEND_URLS,
    JobKind.DESCRIBE: Capability.DESCRIBE_URL,
}
#: The accounts each kind of job is meant for: AIMG generations on AIMG accounts only.
_KINDS_FOR: dict[JobKind, frozenset[BackendKind]] = {
    kind: AIMG_KINDS if kind is JobKind.GENERATE else _MIDJOURNEY for kind in JobKind
}
#: What a member calls a generation field, in a refusal.
FIELD_NAMES = {"negprompt": "negative prompt"}
#: Where an account gets /imagine's image prompts as links in the prompt.
_IMAGINE_URLS = frozenset({Capability.IMAGINE_URLS})


def needs(kind: JobKind) -> frozenset[Capability]:
    """What a new job of ``kind`` needs of its account: one of these (none: every account's own)."""
    return frozenset(c for c in (_CAPABILITY_OF.get(kind), _URL_CAPABILITY_OF.get(kind)) if c is not None)


def _backend_kinds(kind: JobKind) -> frozenset[BackendKind]:
    """The accounts a new job of ``kind`` may run on: meant for it, and declaring what it needs."""
    capability = _CAPABILITY_OF.get(kind)
    if capability is None:
        return _KINDS_FOR[kind]
    by_url = _URL_CAPABILITY_OF.get(kind)
    return _KINDS_FOR[kind] & (kinds_with(capability) | (kinds_with(by_url) if by_url else frozenset()))


def job_kinds(kind: JobKind, channel_id: int, config: GuildConfig) -> frozenset[BackendKind]:
    """The account kinds a job may go to: by its kind, narrowed by its channel's setting."""
    kinds = _backend_kinds(kind)
    only = config.channel(channel_id).backend
    return kinds & {only} if only is not None else kinds


def check_text(text: str, what: str = "prompt") -> None:
    problem = text_problem(text, what)
    if problem:
        raise UserError(problem)


def check_prompt_fits(kind: BackendKind, prompt: str, links: Sequence[str] = ()) -> None:
    """``links``: the image prompts' URLs the service gets at the start of the prompt."""
    limit = prompt_limit(kind)
    sent = image_prompt(links, prompt)
    if limit is not None and len(sent) > limit:
        what = tr("Your prompt with the links of your images") if links else tr("Your prompt")
        raise UserError(
            tr(
                "{what} has {length} characters; {service}, the image service here, takes at most "
                "{limit}. Shorten it.",
                what=what,
                length=len(sent),
                service=service_name(kind),
                limit=limit,
            )
        )


def day_start() -> float:
    """Today's 00:00 UTC, where members' daily counts start."""
    return time.time() - time.time() % 86400


class MemberRate:
    """A token bucket per (guild, member): ``burst`` commands at once, then one every ``every``
    seconds. It runs before the store is touched, so a flooding member costs nothing but a check."""

    def __init__(self, burst: int = 10, every: float = 3.0) -> None:
        self.burst = burst
        self.every = every
        self._buckets: dict[tuple[int, int], tuple[float, float]] = {}

    def take(self, guild_id: int, user_id: int) -> float:
        """0 when the member may go on (a token is used), else the seconds until they may."""
        now = time.monotonic()
        tokens, at = self._buckets.get((guild_id, user_id), (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) / self.every)
        if tokens < 1.0:
            self._buckets[(guild_id, user_id)] = (tokens, now)
            return (1.0 - tokens) * self.every
        self._buckets[(guild_id, user_id)] = (tokens - 1.0, now)
        return 0.0

    def check(self, guild_id: int, user_id: int) -> None:
        wait = self.take(guild_id, user_id)
        if wait:
            raise UserError(
                tr("You are starting jobs too fast. Wait {wait:.0f} s, then try again.", wait=wait)
            )


class Rules:
    """The guild's rules for a new job, and whether any account here can run it."""

    def __init__(self, store: Store, accounts: AccountPool) -> None:
        self._store = store
        self._accounts = accounts

    def check_served(self, config: GuildConfig, guild_id: int, channel_id: int, kind: JobKind) -> None:
        """Refuse a job no shared account here can run: none is set up for the channel, or none's
        service can do what the job needs (said with the service's name)."""
        kinds = job_kinds(kind, channel_id, config)
        if self._accounts.serves(guild_id, channel_id, kinds=kinds, needs=needs(kind)):
            return
        only = config.channel(channel_id).backend
        here = [
            a
            for a in self._accounts.shared(guild_id, channel_id, _KINDS_FOR[kind])
            if a.enabled and only in (None, a.kind)
        ]
        capability = _CAPABILITY_OF.get(kind)
        if not here or capability is None:
            raise UserError(tr("The bot has no image service set up for this channel. Ask a server admin."))
        services = self._accounts.services(here)
        who = (
            tr("This server's {services} account", services=services)
            if len(here) == 1
            else tr("This server's {services} accounts", services=services)
        )
        raise UserError(
            joined([cannot(capability, who), tr("Ask a server admin for another image service.")])
        )

    def check_length(
        self,
        config: GuildConfig,
        guild_id: int,
        channel_id: int,
        kind: JobKind,
        prompt: str,
        image_urls: Sequence[str] = (),
    ) -> None:
        """Refuse a prompt longer than a service here takes (the job may go to any of them), with
        the images' links where the service gets them in the prompt."""
        kinds = job_kinds(kind, channel_id, config)
        for account in self._accounts.shared(guild_id, channel_id, kinds):
            if account.enabled:
                links = kind is JobKind.IMAGINE and self._accounts.offers(account.id, _IMAGINE_URLS)
                check_prompt_fits(account.kind, prompt, image_urls if links else ())

    async def check_allowed(
        self, config: GuildConfig, guild_id: int, channel_id: int, owner_id: int, prompt: str, sent: str
    ) -> None:
        """The guild's rules, checked before anything is queued or sent to a backend; ``sent`` is
        the prompt as the backend will get it."""
        if not config.channel(channel_id).enabled:
            raise UserError(tr("The bot is off in this channel. Use another channel, or ask a server admin."))
        banned = banned_term(prompt, config)
        if banned:
            raise UserError(
                tr(
                    "Your prompt contains “{banned}”, which this server does not allow. Rephrase.",
                    banned=banned,
                )
            )
        banned = banned_term(sent, config) if sent != prompt else None
        if banned:
            raise UserError(
                tr(
                    "With your /settings flags and /prefer suffix added, your prompt contains “{banned}”, "
                    "which this server does not allow. Change your suffix or settings.",
                    banned=banned,
                )
            )
        limits = config.limits
        active, today = await self._store.member_job_counts(guild_id, owner_id, since=day_start())
        if active >= limits.user_concurrent:
            raise UserError(
                tr(
                    "You already have {active} jobs waiting or running (this server allows {allowed}). "
                    "Wait for one to finish.",
                    active=active,
                    allowed=limits.user_concurrent,
                )
            )
        if limits.user_daily is not None and today >= limits.user_daily:
            raise UserError(
                tr(
                    "You have used your {daily} jobs for today. The count starts again at 00:00 UTC.",
                    daily=limits.user_daily,
                )
            )
        if await self._store.queued_count(guild_id) >= limits.queue_length:
            raise UserError(
                tr(
                    "This server's queue is full ({waiting} jobs waiting). Try again later.",
                    waiting=limits.queue_length,
                )
            )

    def can_ever_run(self, job: Job, kinds: frozenset[BackendKind], *, anywhere: bool = False) -> bool:
        """Whether an account may run the job (``anywhere``: see :class:`AccountPool`)."""
        if job.account_id is not None:
            return self._accounts.usable(job.account_id, anywhere=anywhere)
        wanted = needs(job.kind)
        return self._accounts.serves(
            job.guild_id, job.channel_id, usable_only=True, kinds=kinds, needs=wanted, anywhere=anywhere
        )
