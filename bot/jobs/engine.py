"""The job engine: queue, submit, track (webhook push first, polling as the fallback), time out,
resume after a restart. It knows jobs and accounts; how a job looks on Discord is the observer's
business (see :class:`JobObserver`).

Every state change is written to the store before anyone is told about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar, cast

import httpx

from bot.backends import check_options, kinds_with, prompt_limit, registered, service_name
from bot.backends.base import (
    SEED_BUTTON,
    Backend,
    Capability,
    SupportsAccountInfo,
    SupportsBlend,
    SupportsBlendUrls,
    SupportsCancel,
    SupportsCustomZoom,
    SupportsDescribe,
    SupportsDescribeUrl,
    SupportsFetchMany,
    SupportsGenerate,
    SupportsImagineUrls,
    SupportsModal,
    SupportsNiji,
    SupportsRemix,
    SupportsSeed,
    SupportsServiceAccounts,
    SupportsServiceStatus,
    SupportsSettings,
    SupportsShorten,
    SupportsVaryRegion,
    image_prompt,
)
from bot.config import JobSettings
from bot.crypto import SECRET_LOST
from bot.domain import (
    MEMBER_SOURCE,
    Account,
    AuditEntry,
    BackendError,
    BackendKind,
    Dimensions,
    ErrorKind,
    GuildConfig,
    Job,
    JobKind,
    JobStatus,
    Reply,
    ResultButton,
    ServiceAccount,
    SettingsState,
    SubmitResult,
    TaskSnapshot,
    UserPrefs,
)
from bot.jobs import mj_settings
from bot.jobs.accounts import AccountPool
from bot.jobs.aimg_items import AimgPart
from bot.jobs.calls import UserError as UserError  # re-exported: the refusal every caller catches
from bot.jobs.image_urls import expired, job_urls, url_params
from bot.jobs.picks import IMAGINE_ALL, parse_options, pick_number
from bot.jobs.prompt_rules import banned_term, text_problem
from bot.logs import job_fields
from bot.metrics import Metrics
from bot.net import allowed_image_url, same_origin, shown_url
from bot.store import Store

log = logging.getLogger(__name__)

#: Longest prompt accepted; Midjourney's own limit is about 6000 characters.
MAX_PROMPT_CHARS = 4000
#: Our own button on a GENERATE result: reopen its parameters in a modal for a new generation.
USE_SETTINGS = "mjbot:use_settings"
#: Why an account whose address changed is out of rotation: its secret was dropped with the move.
NEEDS_SECRET = "its address changed, so its secret was cleared: enter it again with /setup account secret"

#: midjourney-proxy's ❤️ (a bookmark): no new task, see JobEngine.bookmark.
_BOOKMARK = "MJ::BOOKMARK::"
#: Errors that take an account out of rotation until an admin resets it.
_HOLDS = frozenset({ErrorKind.AUTH, ErrorKind.MODERATION})
#: A job whose backend pushes its updates is polled after this many poll intervals of silence
#: (a midjourney-proxy pushes every change; its steps can be far apart).
PUSHED_POLL_FACTOR = 4
#: Submits in a row an account may fail as unreachable before it leaves rotation for a while.
FAILURES_BEFORE_QUARANTINE = 3
#: How long such an account stays out: an outage, unlike a ban, ends by itself.
FAILURE_QUARANTINE_SECONDS = 300.0
#: What a member reads when the bot died while sending their job (see JobEngine.start).
INTERRUPTED_SUBMIT = (
    "The bot restarted while sending this job to the image service, so it cannot tell whether the job "
    "started; it was not sent again, to avoid making it twice. Run it again."
)


class JobObserver(Protocol):
    """Told after every durable change of a job (the Discord publisher implements it)."""

    def job_changed(self, job: Job) -> None: ...


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
            raise UserError(f"You are starting jobs too fast. Wait {wait:.0f} s, then try again.")


class JobEngine:
    def __init__(
        self,
        store: Store,
        accounts: AccountPool,
        observer: JobObserver,
        settings: JobSettings,
        config_secrets: Mapping[int, str] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self.metrics = metrics or Metrics()
        self._accounts = accounts
        #: Secrets of config-file accounts by id: they live in memory only.
        self._config_secrets = dict(config_secrets or {})
        self._observer = observer
        self._settings = settings
        #: Base URL of this bot's webhook endpoint; None means poll only.
        self.hook_base_url: str | None = None
        self._job_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._guild_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        #: Submits under way, per account: they hold capacity before the store shows a task id.
        self._submitting: Counter[int] = Counter()
        #: Jobs being submitted now, with the account each goes to.
        self._submitting_jobs: dict[int, int] = {}
        #: Guilds with a dispatch pass requested but not started yet.
        self._dispatch_wanted: set[int] = set()
        #: Place in the guild's queue of each waiting job (1 = next), and the job's guild.
        self._positions: dict[int, int] = {}
        self._position_guild: dict[int, int] = {}
        #: Accounts that answered "queue full", and until when they count as full.
        self._cooldown: dict[int, float] = {}
        self._rng = random.Random()
        #: Running jobs (id → guild) with the time of their last news from the backend.
        self._tracked: dict[int, float] = {}
        #: Running jobs whose backend has pushed to us: polling them is only a safety net.
        self._pushed: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._poller: asyncio.Task[None] | None = None
        #: Submits in a row each account failed as unreachable (reset by an accepted submit).
        self._failures: Counter[int] = Counter()
        #: Why a resting account (see _quarantine_for_a_while) is out of rotation, for admins.
        self._resting: dict[int, str] = {}
        #: Account id → (when, fields) of its last account_info answer.
        self._account_info: dict[int, tuple[float, Mapping[str, str]]] = {}
        #: Per-member flood limit on new jobs and button presses (tests and the bench lift it).
        self.member_rate = MemberRate()
        #: Shutting down: queued jobs stay queued for the next start (see :meth:`drain`).
        self._draining = False
        #: AIMG: members' accounts, item actions, checks before queueing, per-model limits.
        self.aimg = AimgPart(
            store, accounts, acting_account=self._acting_account, reload_accounts=self.reload_accounts
        )

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Pick up every job a previous run left unfinished, then start polling."""
        # A job whose submit was under way may exist at the backend: sending it again could make
        # it twice, and midjourney-proxy cannot be searched by our `state` on every flavour. It
        # fails clearly. All are written before anything can dispatch (a dispatch would submit
        # the rest again); the loop below publishes them with the other unposted finals.
        for job_id in await self._store.interrupted_submits():
            await self._store.update_job(
                job_id,
                status=JobStatus.FAILURE,
                error_kind=ErrorKind.UNAVAILABLE,
                error_detail=INTERRUPTED_SUBMIT,
            )
        for job in await self._store.unfinished_jobs():
            if job.status is JobStatus.QUEUED:
                self._spawn(self._dispatch(job.guild_id))
            elif not job.status.terminal and job.backend_task_id:
                self._tracked[job.id] = 0.0  # fetch at once: pushes may have been missed
            if job.message_id is None or job.status.terminal:
                self._observer.job_changed(job)
        self._poller = asyncio.create_task(self._poll_forever(), name="mjbot-poller")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109 (a shutdown budget)
        """Start no more submits; wait (at most ``timeout``) for those under way to be answered,
        so none is cut off between the backend's answer and the store."""
        self._draining = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self._submitting_jobs:  # noqa: ASYNC110 (no event per finished submit)
                    await asyncio.sleep(0.05)

    async def load(self) -> tuple[int, int, list[tuple[int, str, str, int, int]]]:
        """Jobs running and queued, and per shared account (guild id, name, service, jobs in
        use, capacity): the scrape-time gauges of ``/metrics``."""
        running = await self._store.active_counts()
        busy = Counter(running)
        busy.update(self._submitting)
        accounts = [
            (a.guild_id, a.name, a.kind.value, busy.get(a.id, 0), a.max_jobs)
            for a in self._accounts.all()
            if a.source != MEMBER_SOURCE
        ]
        return sum(running.values()), await self._store.queued_total(), accounts

    def unhealthy_guilds(self) -> list[int]:
        """Servers with shared accounts none of which is in rotation (enabled, not held, not resting)."""
        now = time.monotonic()
        healthy: dict[int, bool] = {}
        for a in self._accounts.all():
            if a.source == MEMBER_SOURCE:
                continue
            ok = self._accounts.usable(a.id) and self._cooldown.get(a.id, 0.0) <= now
            healthy[a.guild_id] = healthy.get(a.guild_id, False) or ok
        return sorted(guild for guild, ok in healthy.items() if not ok)

    def _service(self, account_id: int | None) -> BackendKind | None:
        account = self._accounts.get(account_id) if account_id is not None else None
        return account.kind if account is not None else None

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ----------------------------------------------------------------------------- commands

    async def submit(
        self,
        kind: JobKind,
        *,
        guild_id: int,
        channel_id: int,
        owner_id: int,
        prompt: str = "",
        images: Sequence[bytes] = (),
        image_urls: Sequence[str] = (),
        params: dict[str, str] | None = None,
        account_id: int | None = None,
        reply: Reply | None = None,
    ) -> Job:
        """Queue a new job (/imagine, /blend, /describe, /shorten, /aimg) and show it in the channel.

        ``image_urls`` are where ``images`` came from (their Discord attachment URLs, same order),
        for services that fetch images by URL. ``account_id`` pins the job to one account (a
        member's own linked account). ``reply`` is the deferred response of the member's
        interaction, which becomes the job's message."""
        self.member_rate.check(guild_id, owner_id)
        prompt = prompt.strip()
        if kind in (JobKind.IMAGINE, JobKind.SHORTEN, JobKind.GENERATE) and not prompt:
            raise UserError("The prompt is empty. Describe the image you want.")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise UserError(f"The prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}.")
        _check_text(prompt)
        for key, value in (params or {}).items():
            _check_text(value, _FIELD_NAMES.get(key, f"{key} value"))
        if kind is JobKind.BLEND and not 2 <= len(images) <= 5:
            raise UserError("Blend needs 2 to 5 images.")
        if kind is JobKind.DESCRIBE and len(images) != 1:
            raise UserError("Describe needs exactly one image.")
        config = await self._store.guild_config(guild_id)
        if account_id is None:
            self._check_served(config, guild_id, channel_id, kind)
            self._check_length(config, guild_id, channel_id, kind, prompt, image_urls)
        # An /imagine is checked as it will be sent: with the member's settings flags and suffix.
        banning = bool(config.banned_words or config.banned_patterns)
        sent = (
            mj_settings.apply(prompt, await self._store.user_prefs(guild_id, owner_id))
            if kind is JobKind.IMAGINE and banning
            else prompt
        )
        await self._check_allowed(config, guild_id, channel_id, owner_id, prompt, sent)
        job = await self._store.create_job(
            guild_id=guild_id,
            channel_id=channel_id,
            owner_id=owner_id,
            kind=kind,
            prompt=prompt,
            hook_secret=secrets.token_urlsafe(24),
            deadline=time.time() + self._settings.timeout_seconds,
            inputs=images,
            params={**(params or {}), **url_params(image_urls)} or None,
            account_id=account_id,
            reply=reply,
        )
        self._observer.job_changed(job)
        self._spawn(self._dispatch(guild_id))
        return job

    def _check_served(self, config: GuildConfig, guild_id: int, channel_id: int, kind: JobKind) -> None:
        """Refuse a job no shared account here can run: none is set up for the channel, or none's
        service can do what the job needs (said with the service's name)."""
        kinds = _job_kinds(kind, channel_id, config)
        if self._accounts.serves(guild_id, channel_id, kinds=kinds, needs=_needs(kind)):
            return
        only = config.channel(channel_id).backend
        here = [
            a
            for a in self._accounts.shared(guild_id, channel_id, _KINDS_FOR[kind])
            if a.enabled and only in (None, a.kind)
        ]
        capability = _CAPABILITY_OF.get(kind)
        if not here or capability is None:
            raise UserError("The bot has no image service set up for this channel. Ask a server admin.")
        accounts = "account" if len(here) == 1 else "accounts"
        raise UserError(
            f"This server's {self._accounts.services(here)} {accounts} {_cannot(capability)} "
            "Ask a server admin for another image service."
        )

    def _check_length(
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
        kinds = _job_kinds(kind, channel_id, config)
        for account in self._accounts.shared(guild_id, channel_id, kinds):
            if account.enabled:
                links = kind is JobKind.IMAGINE and self._accounts.offers(account.id, _IMAGINE_URLS)
                _check_prompt_fits(account.kind, prompt, image_urls if links else ())

    async def _check_allowed(
        self, config: GuildConfig, guild_id: int, channel_id: int, owner_id: int, prompt: str, sent: str
    ) -> None:
        """The guild's rules, checked before anything is queued or sent to a backend; ``sent`` is
        the prompt as the backend will get it."""
        if not config.channel(channel_id).enabled:
            raise UserError("The bot is off in this channel. Use another channel, or ask a server admin.")
        banned = banned_term(prompt, config)
        if banned:
            raise UserError(f"Your prompt contains “{banned}”, which this server does not allow. Rephrase.")
        banned = banned_term(sent, config) if sent != prompt else None
        if banned:
            raise UserError(
                f"With your /settings flags and /prefer suffix added, your prompt contains “{banned}”, "
                "which this server does not allow. Change your suffix or settings."
            )
        limits = config.limits
        day_start = time.time() - time.time() % 86400  # 00:00 UTC
        active, today = await self._store.member_job_counts(guild_id, owner_id, since=day_start)
        if active >= limits.user_concurrent:
            raise UserError(
                f"You already have {active} jobs waiting or running (this server allows "
                f"{limits.user_concurrent}). Wait for one to finish."
            )
        if limits.user_daily is not None and today >= limits.user_daily:
            raise UserError(
                f"You have used your {limits.user_daily} jobs for today. The count starts again at 00:00 UTC."
            )
        if await self._store.queued_count(guild_id) >= limits.queue_length:
            raise UserError(
                f"This server's queue is full ({limits.queue_length} jobs waiting). Try again later."
            )

    async def press(
        self,
        parent: Job,
        index: int,
        *,
        user_id: int,
        channel_id: int,
        prompt: str | None = None,
        mask_png: bytes | None = None,
        remix: bool = False,
        reply: Reply | None = None,
    ) -> list[Job]:
        """Start what button ``index`` of a finished job's result does; the jobs it started.

        ``prompt`` and ``mask_png`` are what the member typed or chose in a modal, for actions the
        backend confirms with a MODAL step (Custom Zoom, Vary (Region)); with ``remix`` the prompt
        replaces the parent's (Remix mode). ``reply`` becomes the first started job's message
        (one interaction has one response; "Imagine all"'s other jobs are posted).
        """
        if parent.status is not JobStatus.SUCCESS or not 0 <= index < len(parent.buttons):
            raise UserError("This button is no longer available. Run /imagine again.")
        button = parent.buttons[index]
        if self.aimg.is_item_action(parent, index):
            await self.aimg.item_action(parent, index, user_id=user_id)
            return []
        picked = self._picked_prompts(parent, button)
        if picked:
            # /describe and /shorten picks: each is a new /imagine, on any account.
            return [
                await self.submit(
                    JobKind.IMAGINE,
                    guild_id=parent.guild_id,
                    channel_id=channel_id,
                    owner_id=user_id,
                    prompt=p,
                    reply=reply if n == 0 else None,
                )
                for n, p in enumerate(picked)
            ]
        self.member_rate.check(parent.guild_id, user_id)
        _check_text(prompt or "")
        config = await self._store.guild_config(parent.guild_id)
        await self._check_allowed(config, parent.guild_id, channel_id, user_id, prompt or "", prompt or "")
        account_id = self._acting_account(parent, user_id, channel_id)
        if account_id is None or not self._accounts.usable(account_id):
            raise UserError(
                "The account that made this image is not available any more, so its buttons cannot work. "
                "Run /imagine again."
            )
        acting = self._accounts.get(account_id)
        if prompt and acting is not None:
            _check_prompt_fits(acting.kind, prompt.strip())
        job = await self._store.create_job(
            guild_id=parent.guild_id,
            channel_id=channel_id,
            owner_id=user_id,
            kind=button.kind,
            prompt=prompt.strip() if prompt else parent.prompt,
            hook_secret=secrets.token_urlsafe(24),
            deadline=time.time() + self._settings.timeout_seconds,
            parent_job_id=parent.id,
            action_custom_id=button.custom_id,
            # A follow-up runs on the account that holds its parent task (see _acting_account).
            account_id=account_id,
            inputs=[mask_png] if mask_png else (),
            params=self._follow_up_params(parent, button, prompt, remix),
            reply=reply,
        )
        self._observer.job_changed(job)
        self._spawn(self._dispatch(parent.guild_id))
        return [job]

    def _acting_account(self, job: Job, user_id: int, channel_id: int) -> int | None:
        """The account that runs ``user_id``'s action on ``job``: the job's own, except a member's
        personal AIMG session, which runs its owner's actions only. Another member's then runs on
        the account their own generations in ``channel_id`` use (AIMG reads any item by id); a
        UserError when there is none."""
        account = self._accounts.get(job.account_id) if job.account_id is not None else None
        if account is None or account.source != MEMBER_SOURCE:
            return job.account_id
        owner = account.options.get("owner_id")
        if owner == str(user_id):
            return account.id
        found = self.aimg.account(job.guild_id, channel_id, user_id)
        if found is None:
            raise UserError(
                f"This image was made with <@{owner}>'s own AIMG account, which only they can use, "
                "and no AIMG account of this server is available. Ask a server admin."
            )
        return found.id

    async def is_aimg(self, job: Job) -> bool:
        """Whether ``job`` shows AIMG content: a generation, or a follow-up of one (known from the
        job it came from, so even once its account is gone)."""
        while job.kind is not JobKind.GENERATE:
            parent = await self._store.get_job(job.parent_job_id) if job.parent_job_id else None
            if parent is None:
                return False
            job = parent
        return True

    def _is_aimg(self, account_id: int | None) -> bool:
        account = self._accounts.get(account_id) if account_id is not None else None
        return account is not None and account.kind is BackendKind.AIMG

    def _follow_up_params(
        self, parent: Job, button: ResultButton, prompt: str | None, remix: bool
    ) -> dict[str, str] | None:
        """A follow-up's params: what a modal gave; on AIMG also the parent's generation settings,
        so its result offers "Use these settings" too (a re-roll's seed is new, so not kept)."""
        params: dict[str, str] = {}
        if self._is_aimg(parent.account_id):
            params.update(parent.params)
            if button.kind is JobKind.REROLL:
                params.pop("seed", None)
        if prompt:
            params["prompt"] = prompt.strip()
            if remix:
                params["remix"] = "1"
        return params or None

    @staticmethod
    def _picked_prompts(parent: Job, button: ResultButton) -> list[str]:
        if parent.kind not in (JobKind.DESCRIBE, JobKind.SHORTEN) or not parent.result_text:
            return []
        options = parse_options(parent.result_text)
        if button.custom_id == IMAGINE_ALL:
            return options
        number = pick_number(button.custom_id)
        if number is None:
            return []
        if not 1 <= number <= len(options):
            raise UserError("That option is not in the result any more. Run the command again.")
        return [options[number - 1]]

    def supports_remix(self, job: Job) -> bool:
        """Whether the account that made ``job`` can run its buttons with an edited prompt."""
        if job.account_id is None or not self._accounts.usable(job.account_id):
            return False
        return Capability.REMIX in self._accounts.backend(job.account_id).capabilities

    @staticmethod
    def is_bookmark(job: Job, index: int) -> bool:
        """Whether button ``index`` is midjourney-proxy's ❤️, which makes no image: the service
        answers with the pressed task's own id (docs/backends/midjourney-proxy.md)."""
        return 0 <= index < len(job.buttons) and job.buttons[index].custom_id.startswith(_BOOKMARK)

    async def bookmark(self, job: Job, index: int, *, user_id: int) -> None:
        """Press ❤️ on a finished job's result at its service, with no job of its own; a
        UserError with the service's refusal."""
        self.member_rate.check(job.guild_id, user_id)
        account_id = job.account_id
        if not self.is_bookmark(job, index) or job.backend_task_id is None or account_id is None:
            raise UserError("This button is no longer available. Run /imagine again.")
        if not self._accounts.usable(account_id):
            raise UserError("The account that made this image is not available any more. Run /imagine again.")
        backend = self._accounts.backend(account_id)
        self._count_call(account_id)
        call = backend.action(job.backend_task_id, job.buttons[index].custom_id)
        try:
            await _guarded(backend, job.id, "bookmark", call)
        except BackendError as exc:
            self._count_failed_call(account_id, exc)
            raise UserError(exc.user_message) from None

    def remix_refusal(self, job: Job) -> str | None:
        """Why ``job``'s buttons cannot be pressed with Remix on: its service keeps the account's
        own Remix mode (so Midjourney asks for a prompt) but cannot send one. None when they can."""
        if job.account_id is None or not self._accounts.usable(job.account_id):
            return None
        backend = self._accounts.backend(job.account_id)
        if Capability.SETTINGS not in backend.capabilities or Capability.REMIX in backend.capabilities:
            return None
        return (
            f"{backend.service} {_cannot(Capability.REMIX)} Turn Remix off in /settings to use this button."
        )

    async def cancel(self, job_id: int) -> str | None:
        """Stop a queued or running job; the backend is asked to cancel too when it can. None
        when nothing runs at the service any more, else the service that may still finish it.
        The service is asked outside the job's lock: it may push the job's new state before it
        answers (useapi.net), and that push waits for the lock."""
        async with self._job_locks[job_id]:
            job = await self._store.get_job(job_id)
        if job is None or job.status.terminal:
            raise UserError("This job has already finished.")
        still_running: str | None = None
        if job.backend_task_id and job.account_id is not None:
            backend = self._accounts.backend(job.account_id)
            still_running = backend.service
            if Capability.CANCEL in backend.capabilities:
                call = cast(SupportsCancel, backend).cancel(job.backend_task_id)
                try:
                    await _guarded(backend, job_id, "cancel", call)
                    still_running = None
                except BackendError as exc:
                    # The job is ours to stop either way; the backend may finish it unseen.
                    extra = job_fields(job, self._service(job.account_id))
                    log.info("job %s: backend cancel failed (%s)", job_id, exc.kind.value, extra=extra)
        async with self._job_locks[job_id]:
            job = await self._store.get_job(job_id)
            if job is not None and job.status is JobStatus.CANCELLED:
                return still_running  # the service's push said so first
            if job is None or job.status.terminal:
                raise UserError("This job has already finished.")
            job = await self._store.update_job(job_id, status=JobStatus.CANCELLED)
        self._after_change(job)
        return still_running

    async def prefs(self, guild_id: int, user_id: int) -> UserPrefs:
        return await self._store.user_prefs(guild_id, user_id)

    async def set_prefs(self, guild_id: int, user_id: int, prefs: UserPrefs) -> None:
        await self._store.set_user_prefs(guild_id, user_id, prefs)

    async def set_suffix(self, guild_id: int, user_id: int, suffix: str) -> UserPrefs:
        """Keep the member's /prefer suffix (empty: none); refused with the usual sentence when it
        is not plain text or holds one of the server's banned words."""
        suffix = suffix.strip()
        _check_text(suffix, "suffix")
        banned = banned_term(suffix, await self._store.guild_config(guild_id))
        if banned:
            raise UserError(
                f"The suffix contains “{banned}”, which this server does not allow. Choose another."
            )
        current = await self.prefs(guild_id, user_id)
        prefs = UserPrefs.model_validate({**current.model_dump(), "suffix": suffix})
        await self.set_prefs(guild_id, user_id, prefs)
        return prefs

    def _imagine_accounts(self, config: GuildConfig, guild_id: int, channel_id: int) -> list[Account]:
        """The enabled shared accounts an /imagine in the channel may go to."""
        kinds = _job_kinds(JobKind.IMAGINE, channel_id, config)
        return [a for a in self._accounts.shared(guild_id, channel_id, kinds) if a.enabled]

    @staticmethod
    def _service_keeps_settings(accounts: Sequence[Account]) -> bool:
        """Whether the /settings panel is the service's own: every account an /imagine may go to
        keeps Midjourney settings itself (TheNextLeg). Otherwise the bot keeps them, as flags."""
        return bool(accounts) and all(
            Capability.SETTINGS in registered()[a.kind].capabilities for a in accounts
        )

    async def _settings_backend(self, guild_id: int, channel_id: int) -> SupportsSettings | None:
        """The account whose own settings the channel's panel shows; None when the bot keeps
        them. A UserError when no Midjourney service answers in the channel."""
        config = await self._store.guild_config(guild_id)
        accounts = self._imagine_accounts(config, guild_id, channel_id)
        if not accounts:
            others = {a.kind for a in self._accounts.shared(guild_id, channel_id) if a.enabled}
            names = " and ".join(sorted(service_name(k) for k in others))
            if names:
                raise UserError(
                    f"{names} has no Midjourney settings to change. Use /settings where /imagine works."
                )
            raise UserError("The bot has no image service set up for this channel. Ask a server admin.")
        if not self._service_keeps_settings(accounts):
            return None
        usable = [a for a in accounts if self._accounts.usable(a.id)]
        if not usable:
            raise UserError(f"{service_name(accounts[0].kind)} is out of rotation now. Try /settings later.")
        return cast(SupportsSettings, self._accounts.backend(usable[0].id))

    def _bot_kept_labels(self, guild_id: int, channel_id: int, config: GuildConfig) -> list[str]:
        """The panel's labels that change what the bot sends to the channel's services: the
        prompt flags, and Remix where a service can take an edited prompt."""
        accounts = self._imagine_accounts(config, guild_id, channel_id)
        return mj_settings.offered(remix=any(self._accounts.offers(a.id, _REMIX) for a in accounts))

    async def check_remix(self, guild_id: int, channel_id: int) -> None:
        """A UserError naming the channel's services when none takes an edited prompt for a
        button, so Remix mode would change nothing there."""
        accounts = self._imagine_accounts(await self._store.guild_config(guild_id), guild_id, channel_id)
        if not any(self._accounts.offers(a.id, _REMIX) for a in accounts):
            names = self._accounts.services(accounts) or "No image service here"
            raise UserError(f"{names} {_cannot(Capability.REMIX)} Remix mode would change nothing here.")

    async def settings(self, guild_id: int, user_id: int, channel_id: int) -> SettingsState:
        """The /settings state in a channel: its service's own when it keeps one, else the
        member's, with only the toggles that change what the channel's services get."""
        backend = await self._settings_backend(guild_id, channel_id)
        if backend is not None:
            return await _in_time(backend.settings_state())
        prefs = await self.prefs(guild_id, user_id)
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
        prefs = await self.prefs(guild_id, user_id)
        try:
            changed = mj_settings.toggle(prefs, label)
        except ValueError:
            raise UserError(f"{label!r} is not a setting.") from None
        backend = await self._settings_backend(guild_id, channel_id)
        if backend is not None:
            state = await _in_time(backend.press_setting(label))
            # Remix decides whether the bot opens a prompt editor, so the bot keeps it too.
            await self.set_prefs(guild_id, user_id, prefs.model_copy(update={"remix": changed.remix}))
            return state
        config = await self._store.guild_config(guild_id)
        if label not in self._bot_kept_labels(guild_id, channel_id, config):
            kinds = {a.kind for a in self._imagine_accounts(config, guild_id, channel_id)}
            names = " and ".join(sorted(service_name(k) for k in kinds))
            raise UserError(f"{names} has no {label} the bot can switch, so it is not offered here.")
        await self.set_prefs(guild_id, user_id, changed)
        return await self.settings(guild_id, user_id, channel_id)

    async def seed(self, job: Job) -> str:
        """The seed of finished ``job``, asked of the account that made it (Midjourney's ✉️)."""
        if job.status is not JobStatus.SUCCESS or not job.image_url or job.backend_task_id is None:
            raise UserError(f"Job #{job.id} has no finished image, so it has no seed.")
        if job.account_id is None or not self._accounts.usable(job.account_id):
            raise UserError(f"The account that made job #{job.id} is not available any more, so no seed.")
        backend = self._accounts.backend(job.account_id)
        seeder = _capable(backend, Capability.SEED, SupportsSeed, for_member=True)
        call = _guarded(backend, job.id, "seed", seeder.seed(job.backend_task_id))
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
            call = _guarded(backend, 0, "account info", cast(SupportsAccountInfo, backend).account_info())
            cached = (time.monotonic(), await _in_time(call, "/info"))
            self._account_info[account.id] = cached
        return backend.service, cached[1]

    # --------------------------------------------------------------------------- guild setup

    async def reload_accounts(self) -> None:
        """Make the account pool match the store (after a change, and at start)."""
        self._accounts.sync(await self._store.list_accounts(), self._config_secrets)

    async def guild_config(self, guild_id: int) -> GuildConfig:
        return await self._store.guild_config(guild_id)

    async def configure(
        self, guild_id: int, user_id: int, action: str, change: Callable[[GuildConfig], GuildConfig]
    ) -> GuildConfig:
        """Apply ``change`` to the guild's setup, and audit it as ``action``."""
        config = change(await self._store.guild_config(guild_id))
        await self._store.set_guild_config(guild_id, config)
        await self._store.audit(guild_id, user_id, "configure", action)
        return config

    async def member_jobs(self, guild_id: int, user_id: int, *, limit: int, offset: int = 0) -> list[Job]:
        """A member's jobs in the guild, newest first."""
        return await self._store.member_jobs(guild_id, user_id, limit=limit, offset=offset)

    async def member_usage(self, guild_id: int, user_id: int) -> tuple[int, int]:
        """(jobs the member has waiting or running, jobs started today UTC)."""
        day_start = time.time() - time.time() % 86400
        return await self._store.member_job_counts(guild_id, user_id, since=day_start)

    async def audit_log(self, guild_id: int, limit: int = 20) -> list[AuditEntry]:
        return await self._store.audit_log(guild_id, limit)

    async def accounts(self, guild_id: int) -> list[tuple[Account, int]]:
        """The guild's accounts (members' own left out) with the jobs each is running now."""
        busy = await self._store.active_counts()
        now = time.monotonic()
        shown = []
        for account in self._accounts.for_guild(guild_id):
            if account.source == MEMBER_SOURCE:
                continue
            rest = self._resting.get(account.id)
            if rest and self._cooldown.get(account.id, 0.0) > now and not account.quarantine_reason:
                minutes = (self._cooldown[account.id] - now) / 60
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
            raise UserError(str(exc)) from None
        if "base_url" in fields and await self._accounts.refused_address(fields["base_url"]):
            raise UserError(
                "That address is on a private or local network, which the bot's operator does not allow "
                "for accounts added here. Use the service's public address."
            )

    async def add_account(self, guild_id: int, user_id: int, **fields: Any) -> Account:
        await self._check_account_fields(fields["kind"], fields)
        try:
            account = await self._store.add_account(guild_id=guild_id, created_by=user_id, **fields)
        except ValueError as exc:
            raise UserError(f"{exc} Choose another name, or edit that account.") from None
        await self._store.audit(guild_id, user_id, "account add", _describe_account(account))
        await self.reload_accounts()
        return account

    async def _admin_account(self, guild_id: int, name: str) -> Account:
        account = await self._store.get_account(guild_id, name)
        if account is None or account.source == MEMBER_SOURCE:
            raise UserError(f"This server has no account named {name!r}. See /setup account list.")
        if account.source == "config":
            raise UserError(f"{name!r} is declared in the bot's config file; change it there.")
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
                f"{name!r} has {running} jobs running. Disable it (/setup account edit enabled:False), "
                "then remove it once they finish."
            )
        await self._store.remove_account(account.id)
        await self._store.audit(guild_id, user_id, "account remove", name)
        await self.reload_accounts()

    async def reset_account(self, guild_id: int, user_id: int, name: str) -> str:
        """Put a quarantined account back into rotation (config-file accounts too), and ask its
        service to release the Midjourney accounts it holds for moderation; a sentence saying so."""
        account = await self._store.get_account(guild_id, name)
        if account is None or account.source == MEMBER_SOURCE:
            raise UserError(f"This server has no account named {name!r}. See /setup account list.")
        if account.quarantine_reason == SECRET_LOST:
            raise UserError(
                f"The secret of {name!r} was sealed with another key: "
                "enter it again with /setup account secret."
            )
        released = await self._release_held(account)
        await self._store.set_account_quarantine(account.id, None)
        self._accounts.quarantine(account.id, None)
        await self._store.audit(guild_id, user_id, "account reset", name)
        self._spawn(self._dispatch(guild_id))
        return f"**{name}** is back in rotation.{released}"

    async def _release_held(self, account: Account) -> str:
        """Reset, at the service, the Midjourney accounts it holds for this account; what was done,
        as a sentence to append ("" when nothing was held)."""
        try:
            held = [s.name for s in await self.service_accounts(account) if s.hold]
            resetter = cast(SupportsServiceAccounts, self._accounts.backend(account.id))
            for channel in held:
                async with asyncio.timeout(PROBE_SECONDS):
                    await resetter.reset_service_account(channel)
        except (BackendError, TimeoutError):
            return (
                " The service could not be asked to release its held Midjourney accounts: check "
                "/setup account test, then reset again."
            )
        if not held:
            return ""
        return f" The service was asked to put {', '.join(held)} back into rotation too."

    async def service_accounts(self, account: Account) -> list[ServiceAccount]:
        """The Midjourney accounts the account's service drives for it ([] when its service keeps
        none); BackendError when they cannot be read within PROBE_SECONDS."""
        backend = self._accounts.backend(account.id)
        if Capability.SERVICE_ACCOUNTS not in backend.capabilities:
            return []
        call = cast(SupportsServiceAccounts, backend).service_accounts()
        try:
            async with asyncio.timeout(PROBE_SECONDS):
                return await _guarded(backend, 0, "service_accounts", call)
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
        account = await self._store.get_account(guild_id, name)
        if account is None or account.source == MEMBER_SOURCE:
            raise UserError(f"This server has no account named {name!r}. See /setup account list.")
        backend = self._accounts.backend(account.id)
        problem = await probe(backend)
        if problem == PROBE_REFUSED:
            problem += " Replace them: /setup account secret."
        if problem is None:
            try:
                held = [s for s in await self.service_accounts(account) if s.hold]
            except BackendError:
                problem = "the service's list of Midjourney accounts could not be read."
            else:
                problem = held_sentence(held[0]) if held else None
        if problem:
            return f"❌ {name}: {problem}"
        status = await _service_status(backend)
        return f"✅ {name}: {PROBE_OK}" + (f" {status}" if status else "")

    async def record_message(self, job_id: int, message_id: int) -> None:
        await self._store.update_job(job_id, message_id=message_id)

    async def forget_reply(self, job_id: int, *, message_gone: bool = False) -> None:
        """Stop writing ``job_id``'s message through its interaction (Discord refused the token);
        ``message_gone``: the message was deleted too, so the next write posts a new one."""
        if message_gone:
            await self._store.update_job(job_id, reply_token=None, message_id=None)
        else:
            await self._store.update_job(job_id, reply_token=None)

    async def record_posted(self, job_id: int) -> None:
        await self._store.update_job(job_id, result_posted=True)

    def image_url_allowed(self, job: Job, url: str) -> bool:
        """Whether the bot may download ``url`` for ``job``: from the job's account's own host or a
        known CDN only (see :mod:`bot.net`), never the bot's machine or private network."""
        account = self._accounts.get(job.account_id) if job.account_id is not None else None
        return allowed_image_url(url, account.base_url if account is not None else None)

    def download_client(self, job: Job) -> httpx.AsyncClient:
        """The HTTP client for ``job``'s images: an admin's account's host is reached through the
        address checks its calls go through."""
        return self._accounts.http_for(job.account_id)

    def http_for_url(self, base_url: str) -> httpx.AsyncClient:
        """The HTTP client for a service at ``base_url`` that is not an account yet (a sign-in)."""
        return self._accounts.http_for_url(base_url)

    async def get(self, job_id: int) -> Job | None:
        """The job as stored, with its place in the guild's queue while it waits there."""
        job = await self._store.get_job(job_id)
        if job is not None and job.status is JobStatus.QUEUED and job.id in self._positions:
            job = job.model_copy(update={"queue_position": self._positions[job.id]})
        return job

    # ------------------------------------------------------------------------------- AIMG

    @staticmethod
    def is_seed(job: Job, index: int) -> bool:
        """Whether button ``index`` asks for the result's seed rather than start a job."""
        return 0 <= index < len(job.buttons) and job.buttons[index].custom_id == SEED_BUTTON

    # --------------------------------------------------------------------- queue and submit

    async def _busy(self) -> Counter[int]:
        busy = Counter(await self._store.active_counts())
        busy.update(self._submitting)
        now = time.monotonic()
        for account_id, until in list(self._cooldown.items()):
            if until <= now:
                del self._cooldown[account_id]
                self._resting.pop(account_id, None)
                continue
            account = self._accounts.get(account_id)
            if account is not None:
                busy[account_id] = max(busy[account_id], account.max_jobs)  # full until then
        return busy

    async def _dispatch(self, guild_id: int) -> None:
        """Run a dispatch pass for the guild, coalescing requests: many changes at once (a burst of
        commands, finished jobs) ask for a pass each, but one pass that starts after the last
        request sees them all, so at most one more waits behind the running one."""
        if self._draining:
            return  # shutting down: queued jobs wait for the next start
        if guild_id in self._dispatch_wanted:
            return  # a pass that has not started yet will see this change too
        self._dispatch_wanted.add(guild_id)
        async with self._guild_locks[guild_id]:
            self._dispatch_wanted.discard(guild_id)
            await self._dispatch_pass(guild_id)

    async def _dispatch_pass(self, guild_id: int) -> None:
        """Start as many of the guild's queued jobs as accounts have room for, taking members in
        turn (one member's 20 jobs do not block everyone), and tell the rest their position."""
        busy = await self._busy()
        config = await self._store.guild_config(guild_id)
        waiting: list[Job] = []
        model_load: Counter[tuple[int, str]] | None = None
        for job in fair_order(await self._store.queued_jobs(guild_id)):
            if job.id in self._submitting_jobs:
                continue
            if time.time() > job.deadline:
                kind = job.error_kind or ErrorKind.TIMEOUT
                await self._finish_failed(
                    job, kind, job.error_detail or "It waited too long for a free account."
                )
                continue
            kinds = _job_kinds(job.kind, job.channel_id, config)
            if not self._can_ever_run(job, kinds):
                await self._finish_failed(
                    job,
                    ErrorKind.UNAVAILABLE,
                    "No image service account of this server can take jobs right now.",
                )
                continue
            if job.account_id is not None:
                if not self._accounts.has_capacity(job.account_id, busy):
                    waiting.append(job)
                    continue
                account_id = job.account_id
            else:
                account = self._accounts.choose(guild_id, job.channel_id, busy, kinds, _needs(job.kind))
                if account is None:
                    waiting.append(job)
                    continue
                account_id = account.id
            slot = await self.aimg.model_slot(job, account_id)
            if slot is not None:
                # AIMG: the job waits here while its model is at the account's limit.
                key, limit = slot
                model_load = (
                    await self.aimg.model_load(await self._in_flight()) if model_load is None else model_load
                )
                if model_load[key] >= limit:
                    waiting.append(job)
                    continue
                model_load[key] += 1
            busy[account_id] += 1
            self._submitting[account_id] += 1
            self._submitting_jobs[job.id] = account_id
            self._spawn(self._submit(job, account_id))
        self._show_positions(guild_id, waiting)

    async def _in_flight(self) -> list[tuple[Job, int | None]]:
        """Every job being submitted or tracked, with its account."""
        jobs = await self._store.jobs_by_ids({*self._tracked, *self._submitting_jobs})
        return [(job, self._submitting_jobs.get(job.id, job.account_id)) for job in jobs]

    def _show_positions(self, guild_id: int, waiting: list[Job]) -> None:
        """Remember each waiting job's place in the queue; re-show the jobs whose place changed."""
        positions = {job.id: n for n, job in enumerate(waiting, start=1)}
        for job in waiting:
            if self._positions.get(job.id) != positions[job.id] and not job.status.terminal:
                self._positions[job.id] = positions[job.id]
                self._observer.job_changed(job.model_copy(update={"queue_position": positions[job.id]}))
        for job_id in [j for j, g in self._position_guild.items() if g == guild_id and j not in positions]:
            self._positions.pop(job_id, None)
            del self._position_guild[job_id]
        self._position_guild.update(dict.fromkeys(positions, guild_id))

    def _can_ever_run(self, job: Job, kinds: frozenset[BackendKind]) -> bool:
        if job.account_id is not None:
            return self._accounts.usable(job.account_id)
        return self._accounts.serves(
            job.guild_id, job.channel_id, usable_only=True, kinds=kinds, needs=_needs(job.kind)
        )

    async def _timeout_seconds(self, guild_id: int) -> float:
        """How long a job of the guild may run: its /setup limit, else the bot's default."""
        minutes = (await self._store.guild_config(guild_id)).limits.job_timeout_minutes
        return minutes * 60.0 if minutes else self._settings.timeout_seconds

    async def _submit(self, job: Job, account_id: int) -> None:
        service = self._service(account_id)
        try:
            async with self._job_locks[job.id]:
                current = await self._store.get_job(job.id)
                if current is None or current.status is not JobStatus.QUEUED:
                    return
                if current.kind is JobKind.IMAGINE and current.action_custom_id is None:
                    # The member's settings become prompt flags (unless the prompt sets them);
                    # where the channel's panel is its service's own, that applies its own.
                    prefs = await self._store.user_prefs(current.guild_id, current.owner_id)
                    config = await self._store.guild_config(current.guild_id)
                    if self._service_keeps_settings(
                        self._imagine_accounts(config, current.guild_id, current.channel_id)
                    ):
                        prefs = UserPrefs(suffix=prefs.suffix)
                    current = current.model_copy(update={"prompt": mj_settings.apply(current.prompt, prefs)})
                # Durable before the call: a crash from here until the task id is stored leaves
                # a trace that start() turns into a clear failure instead of a second submit.
                await self._store.mark_submitting(job.id, account_id)
                try:
                    backend = self._accounts.backend(account_id)
                    self._count_call(account_id)
                    call = self._call_backend(current, backend)
                    result = await _guarded(backend, job.id, "submit", call)
                except BackendError as exc:
                    await self._store.mark_submitting(job.id, None)
                    self._count_failed_call(account_id, exc)
                    await self._submit_failed(current, account_id, exc)
                    return
                self._failures.pop(account_id, None)
                if service is not None:
                    self.metrics.job_started(job.id, service)
                if result.no_task or (
                    result.existing and await self._store.job_of_task(account_id, result.task_id) is not None
                ):
                    # No task of its own to follow (one job per task: the other job shows it).
                    done = await self._store.update_job(
                        job.id, account_id=account_id, status=JobStatus.SUCCESS, progress=100
                    )
                    self._after_change(done)
                    return
                updated = await self._store.update_job(
                    job.id,
                    prompt=current.prompt,
                    account_id=account_id,
                    backend_task_id=result.task_id,
                    status=JobStatus.SUBMITTED,
                    progress=0,
                    queue_position=result.queue_position,
                    error_kind=None,
                    error_detail=None,
                    deadline=time.time() + await self._timeout_seconds(current.guild_id),
                )
                self._tracked[job.id] = time.monotonic()
            self._observer.job_changed(updated)
        finally:
            self._submitting[account_id] -= 1
            self._submitting_jobs.pop(job.id, None)

    async def _submit_failed(self, job: Job, account_id: int, exc: BackendError) -> None:
        """A submit was refused. Busy accounts are retried later, held ones leave rotation and
        the job moves to another account when it can; everything else fails the job."""
        pinned = job.account_id is not None  # follow-ups must run where their parent task is
        if exc.kind is ErrorKind.UNAVAILABLE:
            self._failures[account_id] += 1
            if self._failures[account_id] >= FAILURES_BEFORE_QUARANTINE:
                await self._quarantine_for_a_while(account_id, exc)
        if exc.kind in _HOLDS:
            reason = f"{exc.kind.value}: {exc.detail}"[:300]
            await self._store.set_account_quarantine(account_id, reason)
            self._accounts.quarantine(account_id, reason)
            extra = job_fields(job, self._service(account_id))
            log.warning("account %s taken out of rotation (%s)", account_id, exc.kind.value, extra=extra)
            kinds = _job_kinds(job.kind, job.channel_id, await self._store.guild_config(job.guild_id))
            if not pinned and self._can_ever_run(job, kinds):
                self._spawn(self._dispatch(job.guild_id))
                return
        elif exc.kind is ErrorKind.QUEUE_FULL and time.time() < job.deadline:
            # Wait and retry within the job's deadline; meanwhile the account counts as full.
            backoff = self._settings.queue_full_retry_seconds * (0.75 + 0.5 * self._rng.random())
            self._cooldown[account_id] = time.monotonic() + backoff
            updated = await self._store.update_job(job.id, error_kind=exc.kind, error_detail=exc.detail)
            self._observer.job_changed(updated)
            self._spawn(self._dispatch_later(job.guild_id, backoff))
            return
        await self._finish_failed(job, exc.kind, exc.detail, account_id=account_id)

    async def _quarantine_for_a_while(self, account_id: int, exc: BackendError) -> None:
        """Rest an account that keeps failing, so the next jobs go elsewhere.

        It counts as full for FAILURE_QUARANTINE_SECONDS: queued jobs wait for it (within their
        deadline) or take another account, rather than failing. In memory only: an outage ends by
        itself, so no admin reset is needed (and a restart gives it a fresh chance)."""
        self._failures.pop(account_id, None)
        reason = f"{FAILURES_BEFORE_QUARANTINE} submits in a row failed ({exc.detail})"[:300]
        self._cooldown[account_id] = time.monotonic() + FAILURE_QUARANTINE_SECONDS
        self._resting[account_id] = reason
        log.warning("account %s out of rotation for a while: %s", account_id, reason)
        account = self._accounts.get(account_id)
        if account is not None:
            self._spawn(self._dispatch_later(account.guild_id, FAILURE_QUARANTINE_SECONDS))

    async def _dispatch_later(self, guild_id: int, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._dispatch(guild_id)

    def _count_call(self, account_id: int) -> None:
        service = self._service(account_id)
        if service is not None:
            self.metrics.backend_call(service)

    def _count_failed_call(self, account_id: int, exc: BackendError) -> None:
        service = self._service(account_id)
        if service is not None:
            self.metrics.backend_failed(service, exc.kind)

    async def _call_backend(self, job: Job, backend: Backend) -> SubmitResult:
        hook = f"{self.hook_base_url}/hooks/{job.id}/{job.hook_secret}" if self.hook_base_url else None
        state = f"mjbot:{job.id}"
        inputs = await self._store.job_inputs(job.id)
        if job.action_custom_id is not None:
            parent = await self._store.get_job(job.parent_job_id) if job.parent_job_id else None
            if parent is None or parent.backend_task_id is None:
                raise BackendError(ErrorKind.NOT_FOUND, "the original job is gone")
            task, button, prompt = (
                parent.backend_task_id,
                ResultButton(custom_id=job.action_custom_id),
                job.params.get("prompt"),
            )
            if job.params.get("remix") and prompt:
                return await _capable(backend, Capability.REMIX, SupportsRemix).remix(
                    task, button.custom_id, prompt, hook_url=hook, state=state
                )
            # Services that take the modal's answer with the button call (no MODAL step).
            if inputs and button.is_vary_region and Capability.VARY_REGION in backend.capabilities:
                return await cast(SupportsVaryRegion, backend).vary_region(
                    task, button.custom_id, inputs[0], prompt, hook_url=hook, state=state
                )
            if prompt and button.is_custom_zoom and Capability.CUSTOM_ZOOM in backend.capabilities:
                return await cast(SupportsCustomZoom, backend).custom_zoom(
                    task, button.custom_id, prompt, hook_url=hook, state=state
                )
            result = await backend.action(
                parent.backend_task_id, job.action_custom_id, hook_url=hook, state=state
            )
            if result.task_id == parent.backend_task_id:
                # Nothing new to follow, and the task id is the parent's own (one job per task).
                return result.model_copy(update={"no_task": True})
            if result.needs_modal:
                # The backend wants the modal's answer: the member's prompt (and mask) when a
                # modal asked for them, else the prompt the backend suggests (Remix on at the account).
                confirm = _capable(backend, Capability.MODAL, SupportsModal)
                prompt = job.params.get("prompt") or result.final_prompt or parent.prompt
                result = await confirm.modal(result.task_id, prompt, inputs[0] if inputs else None)
            return result
        if Capability.NIJI in backend.capabilities and job.kind in _NEW_TASK_KINDS:
            prefs = await self._store.user_prefs(job.guild_id, job.owner_id)
            if mj_settings.wants_niji(job.prompt, prefs):
                backend = _capable(backend, Capability.NIJI, SupportsNiji).for_niji()
        if job.kind is JobKind.BLEND:
            dimensions: Dimensions = _DIMENSIONS.get(job.params.get("dimensions", ""), "SQUARE")
            if Capability.BLEND not in backend.capabilities and Capability.BLEND_URLS in backend.capabilities:
                urls = _fresh_urls(job, "/blend")
                return await cast(SupportsBlendUrls, backend).blend_urls(
                    urls, dimensions, hook_url=hook, state=state
                )
            blender = _capable(backend, Capability.BLEND, SupportsBlend)
            return await blender.blend(inputs, dimensions, hook_url=hook, state=state)
        if job.kind is JobKind.DESCRIBE:
            if (
                Capability.DESCRIBE not in backend.capabilities
                and Capability.DESCRIBE_URL in backend.capabilities
            ):
                [url] = _fresh_urls(job, "/describe")
                return await cast(SupportsDescribeUrl, backend).describe_url(url, hook_url=hook, state=state)
            describer = _capable(backend, Capability.DESCRIBE, SupportsDescribe)
            return await describer.describe(inputs[0], hook_url=hook, state=state)
        if job.kind is JobKind.SHORTEN:
            shortener = _capable(backend, Capability.SHORTEN, SupportsShorten)
            return await shortener.shorten(job.prompt, hook_url=hook, state=state)
        if job.kind is JobKind.GENERATE:
            generator = _capable(backend, Capability.GENERATE, SupportsGenerate)
            return await generator.generate({**job.params, "prompt": job.prompt}, state=state)
        if inputs and Capability.IMAGINE_URLS in backend.capabilities:
            return await cast(SupportsImagineUrls, backend).imagine_urls(
                job.prompt, _fresh_urls(job, "/imagine"), hook_url=hook, state=state
            )
        return await backend.imagine(job.prompt, inputs, hook_url=hook, state=state)

    # ----------------------------------------------------------------------------- tracking

    async def hook_secret_matches(self, job_id: int, secret: str) -> bool:
        """Whether ``secret`` is job ``job_id``'s webhook secret; the same False for an unknown job."""
        return _secret_matches(await self._store.get_job(job_id), secret)

    async def on_push(self, job_id: int, secret: str, body: object) -> bool:
        """A backend webhook for ``job_id``. False when the job or its secret does not match."""
        # The job is read once, under its lock. A backend may push before its submit call has
        # answered (midjourney-proxy starts the task first): the submit holds the lock, so such a
        # push waits for the task id to be stored, and is applied.
        self.metrics.pushes.inc()
        async with self._job_locks[job_id]:
            job = await self._store.get_job(job_id)
            if job is None:
                self._job_locks.pop(job_id, None)  # no lock kept for an id that names no job
                return False
            if not _secret_matches(job, secret):
                return False
            if job.account_id is None:
                return True  # nothing submitted from our side: a stray or replayed hook
            backend = self._accounts.backend(job.account_id)
            try:
                snapshot = backend.parse_push(body)
            except Exception as exc:
                if not isinstance(exc, BackendError):
                    _unexpected(backend, job_id, "parse_push", exc)
                extra = job_fields(job, self._service(job.account_id))
                log.warning("job %s: unreadable webhook body ignored", job_id, extra=extra)
                return True
            changed = await self._apply_to(job, snapshot, pushed=True)
        if changed is not None:
            self._after_change(changed)
        return True

    async def _apply(self, job_id: int, snap: TaskSnapshot) -> None:
        async with self._job_locks[job_id]:
            job = await self._store.get_job(job_id)
            changed = await self._apply_to(job, snap) if job is not None else None
        if changed is not None:
            self._after_change(changed)

    async def _apply_to(self, job: Job, snap: TaskSnapshot, *, pushed: bool = False) -> Job | None:
        """Write what ``snap`` changes of ``job`` (read under its lock, which the caller holds);
        the job as stored when it changed."""
        job_id = job.id
        if job.status.terminal or snap.task_id != job.backend_task_id:
            return None
        self._tracked[job_id] = time.monotonic()
        if pushed:
            # Its backend pushes: polling is only for a push that went missing.
            self._pushed.add(job_id)
        if snap.status.rank < job.status.rank:
            return None  # an older update that arrived late
        progress = snap.progress if snap.progress is not None else job.progress
        if snap.status is JobStatus.SUCCESS:
            buttons = list(snap.buttons)
            if job.kind is JobKind.DESCRIBE:
                buttons.append(ResultButton(custom_id=IMAGINE_ALL, label="Imagine all"))
            if job.kind is JobKind.GENERATE or (job.parent_job_id and self._is_aimg(job.account_id)):
                buttons.append(
                    ResultButton(custom_id=USE_SETTINGS, label="Use these settings", emoji="⚙️", row=0)
                )
            job = await self._store.update_job(
                job_id,
                status=JobStatus.SUCCESS,
                progress=100,
                image_url=snap.image_url,
                result_urls=snap.result_urls,
                buttons=buttons,
                queue_position=None,
                queue_length=None,
                ignored_words=snap.ignored_words,
                media_type=snap.media_type,
                preview_url=snap.frame_urls[0] if snap.frame_urls else None,
                result_text=snap.final_prompt if job.kind in (JobKind.DESCRIBE, JobKind.SHORTEN) else None,
                prompt=_used_prompt(job, snap),
            )
        elif snap.status in (JobStatus.FAILURE, JobStatus.CANCELLED):
            job = await self._store.update_job(
                job_id,
                status=snap.status,
                error_kind=snap.error_kind,
                error_detail=snap.fail_reason or "The image service gave no reason.",
            )
        elif (
            snap.status is not job.status
            or (progress or 0) > (job.progress or 0)
            or (snap.image_url and snap.image_url != job.image_url)
            or snap.queue_position != job.queue_position
            or snap.queue_length != job.queue_length
        ):
            # Most backend events only move a running job's progress: shown at once, written
            # within a second (Store.note_progress). Leaving our queue or a modal is written now.
            running = snap.status.running and job.status.running
            write = self._store.note_progress if running else self._store.update_job
            job = await write(
                job_id,
                status=snap.status,
                progress=progress,
                image_url=snap.image_url or job.image_url,
                queue_position=snap.queue_position,
                queue_length=snap.queue_length,
            )
        else:
            return None
        return job

    async def _finish_failed(
        self, job: Job, kind: ErrorKind, detail: str, *, account_id: int | None = None
    ) -> None:
        fields: dict[str, object] = {"status": JobStatus.FAILURE, "error_kind": kind, "error_detail": detail}
        if account_id is not None:
            fields["account_id"] = account_id
        updated = await self._store.update_job(job.id, **fields)
        self._after_change(updated)

    def _untrack(self, job_id: int) -> None:
        """Stop polling ``job_id`` (it ended)."""
        self._tracked.pop(job_id, None)
        self._pushed.discard(job_id)

    def _after_change(self, job: Job) -> None:
        if job.status.terminal:
            self.metrics.job_ended(job, self._service(job.account_id))
            self._untrack(job.id)
            self._job_locks.pop(job.id, None)
            # Capacity was freed: start whatever was waiting.
            self._spawn(self._dispatch(job.guild_id))
        self._observer.job_changed(job)

    async def _poll_forever(self) -> None:
        interval = self._settings.poll_interval_seconds
        while True:
            await asyncio.sleep(min(interval, 1.0))
            try:
                await self._poll_once()
            except Exception:
                log.exception("poller pass failed; next pass in %.1f s", interval)

    async def _poll_once(self) -> None:
        """One pass over the jobs with no news for ``poll_interval_seconds`` (with webhook push,
        only those whose pushes were lost or are slow): one shared poller, not a task per job,
        and accounts are asked concurrently, so a pass costs one round trip, not one per job."""
        now_mono = time.monotonic()
        interval = self._settings.poll_interval_seconds
        due = [
            jid
            for jid, seen in self._tracked.items()
            # A job whose backend pushes is fetched only after a silence much longer than the
            # pushes' own rhythm: for a lost push, not for every step between two pushes.
            if now_mono - seen >= (interval * PUSHED_POLL_FACTOR if jid in self._pushed else interval)
        ]
        by_account: defaultdict[int, list[tuple[Job, str]]] = defaultdict(list)
        for job in await self._store.jobs_by_ids(due):
            if job.status.terminal or job.account_id is None or job.backend_task_id is None:
                self._untrack(job.id)
                continue
            if time.time() > job.deadline:
                async with self._job_locks[job.id]:
                    limit = await self._timeout_seconds(job.guild_id)
                    detail = f"No result within {limit / 60:g} minutes."
                    await self._finish_failed(job, ErrorKind.TIMEOUT, detail)
                continue
            self._tracked[job.id] = now_mono
            by_account[job.account_id].append((job, job.backend_task_id))
        await asyncio.gather(*(self._poll_account(a, jobs) for a, jobs in by_account.items()))

    async def _poll_account(self, account_id: int, jobs: list[tuple[Job, str]]) -> None:
        """Fetch one account's due tasks: in one request when its backend lists tasks by id
        (midjourney-proxy's list-by-condition), else one by one (one request at a time per account)."""
        backend = self._accounts.backend(account_id)
        if Capability.FETCH_MANY in backend.capabilities:
            self._count_call(account_id)
            call = cast(SupportsFetchMany, backend).fetch_many([task_id for _, task_id in jobs])
            try:
                snaps = await _guarded(backend, jobs[0][0].id, "fetch_many", call)
            except BackendError as exc:
                self._count_failed_call(account_id, exc)
                if exc.kind is ErrorKind.UNEXPECTED:
                    for job, _ in jobs:
                        await self._fetch_failed(job, exc)
                    return
                log.info("account %s: task list failed (%s); will retry", account_id, exc.kind.value)
                return
            # A task left out of the list is one the backend does not know, as fetch's None.
            found = {snap.task_id: snap for snap in snaps}
            for job, task_id in jobs:
                await self._apply_fetched(job, found.get(task_id))
            return
        for job, task_id in jobs:
            self._count_call(account_id)
            try:
                snap = await _guarded(backend, job.id, "fetch", backend.fetch(task_id))
            except BackendError as exc:
                self._count_failed_call(account_id, exc)
                if exc.kind is ErrorKind.UNEXPECTED:
                    await self._fetch_failed(job, exc)
                    continue
                extra = job_fields(job, self._service(account_id))
                log.info("job %s: fetch failed (%s); will retry", job.id, exc.kind.value, extra=extra)
                continue
            await self._apply_fetched(job, snap)

    async def _fetch_failed(self, job: Job, exc: BackendError) -> None:
        """A fetch the backend's client could not make sense of: retrying would not help."""
        async with self._job_locks[job.id]:
            current = await self._store.get_job(job.id)
            if current is not None and not current.status.terminal:
                await self._finish_failed(current, exc.kind, exc.detail)

    async def _apply_fetched(self, job: Job, snap: TaskSnapshot | None) -> None:
        if snap is None:
            async with self._job_locks[job.id]:
                await self._finish_failed(job, ErrorKind.NOT_FOUND, "The image service lost this job.")
            return
        await self._apply(job.id, snap)


#: What ``/setup account test`` and ``mjbot check`` say of an account whose probe succeeded.
PROBE_OK = "the service answered and accepted the credentials."
#: What a probe says of an account whose service refused its credentials.
PROBE_REFUSED = "the service refused the bot's credentials."
#: How long a probe waits for the service.
PROBE_SECONDS = 20.0


async def probe(backend: Backend, timeout: float = PROBE_SECONDS) -> str | None:  # noqa: ASYNC109
    """Call the service cheaply: None when it answered and accepted the credentials, else a sentence
    saying why not. Only a status: what the service answered is never shown (the address may be
    anyone's, and its answer anything)."""
    try:
        async with asyncio.timeout(timeout):
            # Asking for a task that cannot exist proves the address and the credentials.
            await backend.fetch("0")
    except TimeoutError:
        return f"the service did not answer within {timeout:g} s. Check the base URL."
    except BackendError as exc:
        if exc.kind is ErrorKind.AUTH:
            return PROBE_REFUSED
        if exc.kind is not ErrorKind.NOT_FOUND:
            return "the service is unreachable or gave no usable answer. Check the base URL."
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


def held_sentence(held: ServiceAccount) -> str:
    """What a moderation hold at the service means for an admin (its message: one short line)."""
    message = " ".join((held.hold or "").split())[:200]
    return (
        f"Midjourney holds account {held.name} for moderation or a CAPTCHA (“{message}”). Clear it in "
        "Discord, then /setup account reset."
    )


_DIMENSIONS: dict[str, Dimensions] = {"PORTRAIT": "PORTRAIT", "SQUARE": "SQUARE", "LANDSCAPE": "LANDSCAPE"}


#: How long a member waits for a service's settings panel before being told it is not answering.
SETTINGS_TIMEOUT = 30.0
#: How long an account's /info answer is reused (seconds).
ACCOUNT_INFO_SECONDS = 60.0


async def _in_time(call: Awaitable[_T], command: str = "/settings") -> _T:
    try:
        async with asyncio.timeout(SETTINGS_TIMEOUT):
            return await call
    except TimeoutError:
        raise UserError(
            f"The image service did not answer in time. Try {command} again in a minute."
        ) from None
    except BackendError as exc:
        raise UserError(exc.user_message) from None


_AIMG = frozenset({BackendKind.AIMG})
#: Midjourney's commands run on every other kind of account.
_MIDJOURNEY = frozenset(BackendKind) - _AIMG


#: The capability a new job of each kind needs (imagine is every backend's own).
_CAPABILITY_OF: dict[JobKind, Capability] = {
    JobKind.BLEND: Capability.BLEND,
    JobKind.DESCRIBE: Capability.DESCRIBE,
    JobKind.SHORTEN: Capability.SHORTEN,
    JobKind.GENERATE: Capability.GENERATE,
}
#: Jobs that start a task of their own at the service (not a button's follow-up).
_NEW_TASK_KINDS = frozenset({JobKind.IMAGINE, JobKind.BLEND, JobKind.DESCRIBE, JobKind.SHORTEN})
#: The capability that does a job kind's work from the images' URLs instead of their bytes.
_URL_CAPABILITY_OF: dict[JobKind, Capability] = {
    JobKind.BLEND: Capability.BLEND_URLS,
    JobKind.DESCRIBE: Capability.DESCRIBE_URL,
}
#: The accounts each kind of job is meant for: AIMG generations on AIMG accounts only.
_KINDS_FOR: dict[JobKind, frozenset[BackendKind]] = {
    kind: _AIMG if kind is JobKind.GENERATE else _MIDJOURNEY for kind in JobKind
}


#: Where an account takes an edited prompt for a button (Remix).
_REMIX = frozenset({Capability.REMIX})
#: Where an account gets /imagine's image prompts as links in the prompt.
_IMAGINE_URLS = frozenset({Capability.IMAGINE_URLS})


def _needs(kind: JobKind) -> frozenset[Capability]:
    """What a new job of ``kind`` needs of its account: one of these (none: every account's own)."""
    return frozenset(c for c in (_CAPABILITY_OF.get(kind), _URL_CAPABILITY_OF.get(kind)) if c is not None)


def _backend_kinds(kind: JobKind) -> frozenset[BackendKind]:
    """The accounts a new job of ``kind`` may run on: meant for it, and declaring what it needs."""
    capability = _CAPABILITY_OF.get(kind)
    if capability is None:
        return _KINDS_FOR[kind]
    by_url = _URL_CAPABILITY_OF.get(kind)
    return _KINDS_FOR[kind] & (kinds_with(capability) | (kinds_with(by_url) if by_url else frozenset()))


def _job_kinds(kind: JobKind, channel_id: int, config: GuildConfig) -> frozenset[BackendKind]:
    """The account kinds a job may go to: by its kind, narrowed by its channel's setting."""
    kinds = _backend_kinds(kind)
    only = config.channel(channel_id).backend
    return kinds & {only} if only is not None else kinds


#: What a member calls a generation field, in a refusal.
_FIELD_NAMES = {"negprompt": "negative prompt"}


def _fresh_urls(job: Job, command: str) -> list[str]:
    """The job's image URLs for a service that fetches them; LINKS_EXPIRED once Discord's
    signature on them has expired (the job waited too long in the queue)."""
    urls = job_urls(job)
    if not urls:
        raise BackendError(ErrorKind.INVALID_INPUT, f"This job has no image links. Run {command} again.")
    if expired(urls):
        raise BackendError(ErrorKind.LINKS_EXPIRED, f"Upload the images with {command} again.")
    return urls


def _check_text(text: str, what: str = "prompt") -> None:
    problem = text_problem(text, what)
    if problem:
        raise UserError(problem)


def _check_prompt_fits(kind: BackendKind, prompt: str, links: Sequence[str] = ()) -> None:
    """``links``: the image prompts' URLs the service gets at the start of the prompt."""
    limit = prompt_limit(kind)
    sent = image_prompt(links, prompt)
    if limit is not None and len(sent) > limit:
        what = "Your prompt with the links of your images" if links else "Your prompt"
        raise UserError(
            f"{what} has {len(sent)} characters; {service_name(kind)}, the image service here, "
            f"takes at most {limit}. Shorten it."
        )


def _used_prompt(job: Job, snap: TaskSnapshot) -> str:
    """The prompt a remix really ran with: the backend's report of its task (a proxy whose account
    has Remix off drops the edited prompt without a word), else the member's (see remix_dropped)."""
    if job.params.get("remix") and snap.prompt and snap.prompt.strip():
        return snap.prompt.strip()
    return job.prompt


def remix_dropped(job: Job) -> bool:
    """A remix whose backend ran another prompt than the one the member edited."""
    return bool(job.params.get("remix")) and job.params.get("prompt") not in (None, job.prompt)


def _secret_matches(job: Job | None, secret: str) -> bool:
    """A constant-time comparison as bytes: any characters (a str compare raises on non-ASCII),
    and an unknown job costs the same as a wrong secret."""
    expected = job.hook_secret if job is not None else secrets.token_urlsafe(24)
    same = secrets.compare_digest(expected.encode(), secret.encode("utf-8", "surrogatepass"))
    return job is not None and same


#: What each capability lets the bot do, as a member reads it.
_ABILITIES: dict[Capability, str] = {
    Capability.MODAL: "confirm this action",
    Capability.BLEND: "blend images",
    Capability.DESCRIBE: "describe images",
    Capability.SHORTEN: "shorten prompts",
    Capability.CANCEL: "cancel jobs",
    Capability.SETTINGS: "keep Midjourney settings",
    Capability.GENERATE: "generate with these parameters",
    Capability.REMIX: "remix prompts",
    Capability.FETCH_MANY: "list jobs",
    Capability.BLEND_URLS: "blend images",
    Capability.DESCRIBE_URL: "describe images",
    Capability.IMAGINE_URLS: "take image prompts",
    Capability.CUSTOM_ZOOM: "zoom by a custom amount",
    Capability.SEED: "tell a job's seed",
    Capability.NIJI: "use the Niji bot",
    Capability.SERVICE_STATUS: "show its own accounts and queue",
    Capability.ACCOUNT_INFO: "show its account's status",
    Capability.VARY_REGION: "vary a region",
    Capability.SERVICE_ACCOUNTS: "list its Midjourney accounts",
}


def _cannot(capability: Capability) -> str:
    return f"can't {_ABILITIES[capability]} from the bot yet."


_P = TypeVar("_P")


def _capable(
    backend: Backend, capability: Capability, protocol: Callable[..., _P], *, for_member: bool = False
) -> _P:
    """``backend`` as ``protocol`` when its class declares ``capability`` (whose methods the
    tests check against the protocol), else BackendError(UNSUPPORTED) naming the service (a
    UserError ``for_member``: a command the member is waiting on)."""
    if capability not in backend.capabilities:
        sentence = f"{backend.service} {_cannot(capability)}"
        raise UserError(sentence) if for_member else BackendError(ErrorKind.UNSUPPORTED, sentence)
    return cast(_P, backend)


_T = TypeVar("_T")


async def _guarded(backend: Backend, job_id: int, what: str, call: Awaitable[_T]) -> _T:
    """Await a backend call; anything it raises comes out as a BackendError, so a client's bug
    or an answer it could not read fails the job instead of leaving it waiting with its slot."""
    try:
        return await call
    except BackendError:
        raise
    except Exception as exc:
        raise _unexpected(backend, job_id, what, exc) from exc


def _unexpected(backend: Backend, job_id: int, what: str, exc: Exception) -> BackendError:
    """Log an exception a backend call raised (its type and origin only: its text may quote the
    request, secrets included) and turn it into the BackendError a member reads."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "site-packages" not in f.filename]
    origin = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "a library"
    log.error(
        "job %s: %s.%s raised %s at %s", job_id, type(backend).__name__, what, type(exc).__name__, origin
    )
    return BackendError(
        ErrorKind.UNEXPECTED,
        f"{backend.service} gave an answer the bot could not use ({type(exc).__name__}).",
    )


def fair_order(jobs: list[Job]) -> list[Job]:
    """Queued jobs taken one per member in turn, each member's in the order they were made."""
    by_owner: dict[int, list[Job]] = {}
    for job in jobs:
        by_owner.setdefault(job.owner_id, []).append(job)
    queues = list(by_owner.values())
    ordered: list[Job] = []
    for rank in range(max((len(q) for q in queues), default=0)):
        ordered.extend(q[rank] for q in queues if rank < len(q))
    return ordered


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
