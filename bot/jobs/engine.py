"""The job engine: a thin facade over the parts that queue, submit and follow jobs, and the AIMG
item actions. It knows jobs and accounts; how a job looks on Discord is the observer's business
(see :class:`JobObserver`).

- ``intake`` (:mod:`bot.jobs.intake`): a member's command or button press becomes a queued job.
- ``clicks`` (:mod:`bot.jobs.clicks`): a result's buttons, and what a click on one does.
- ``dispatch`` (:mod:`bot.jobs.dispatch`): the fair per-server queue and account capacity.
- ``submitting`` (:mod:`bot.jobs.submitting`): the backend call, and what its refusal means.
- ``tracking`` (:mod:`bot.jobs.tracking`): pushes, polling, snapshots applied, timeouts.
- ``setup`` (:mod:`bot.jobs.guild_setup`): accounts and guild configuration, by admins.
- ``member`` (:mod:`bot.jobs.member`): /settings, /prefer suffix, /seed, the account's status.

Every state change is written to the store before anyone is told about it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Literal

import httpx

from bot.backends.aimg import AimgBackend, parse_verb, vote_of, vote_verb
from bot.backends.aimg import custom_id as aimg_custom_id
from bot.config import JobSettings
from bot.domain import MEMBER_SOURCE, Account, BackendError, BackendKind, ErrorKind, Job, JobKind, JobStatus
from bot.jobs.accounts import AccountPool
from bot.jobs.calls import CallCounter, UserError
from bot.jobs.clicks import Click, ClickPlan, Clicks
from bot.jobs.dispatch import Dispatcher
from bot.jobs.guild_setup import GuildSetup
from bot.jobs.intake import Intake
from bot.jobs.member import MemberCommands
from bot.jobs.rules import AIMG_KINDS, MemberRate, Rules, check_text
from bot.jobs.submitting import Submitter
from bot.jobs.tracking import JobObserver, Tracker
from bot.logs import job_fields
from bot.metrics import Metrics
from bot.net import allowed_image_url
from bot.store import Store

log = logging.getLogger(__name__)

#: How a member's /aimg logout ended: signed out at AIMG too, only forgotten here, or nothing linked.
Unlinked = Literal["signed_out", "here_only", "none"]
#: Seconds /aimg logout waits for AIMG's sign-out before forgetting the session anyway.
SIGN_OUT_WAIT = 10.0
#: Result buttons that act on the backend's item (AIMG) and start no job, with what the member reads.
ITEM_ACTIONS = {
    aimg_custom_id("like"): "👍 Liked.",
    aimg_custom_id("unlike"): "👍 Like removed.",
    aimg_custom_id("dislike"): "👎 Disliked.",
    aimg_custom_id("undislike"): "👎 Dislike removed.",
    aimg_custom_id("delete"): "🗑️ Deleted from the image service.",
    aimg_custom_id("report"): "🚩 Reported to the image service's moderators. Thank you.",
}
#: What a member reads when the bot died while sending their job (see JobEngine.start).
INTERRUPTED_SUBMIT = (
    "The bot restarted while sending this job to the image service, so it cannot tell whether the job "
    "started; it was not sent again, to avoid making it twice. Run it again."
)


class JobEngine:
    """The parts wired together; a job's verbs (``submit``, ``press``, ``bookmark``, ``cancel``)
    are :class:`Intake`'s."""

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
        self._observer = observer
        calls = CallCounter(accounts, self.metrics)
        rules = Rules(store, accounts)
        self.clicks = Clicks(store, accounts)
        self.tracking = Tracker(
            store,
            accounts,
            observer,
            settings,
            calls,
            result_buttons=self.clicks.result_buttons,
            wake=lambda guild_id: self.dispatch.wake(guild_id),
        )
        self.dispatch = Dispatcher(
            store,
            accounts,
            observer,
            rules,
            self.tracking,
            start=lambda job, account_id: self.submitting.submit(job, account_id),
            model_slot=self._model_slot,
            model_load=self._aimg_load,
        )
        self.submitting = Submitter(store, accounts, observer, calls, rules, self.dispatch, self.tracking)
        self.setup = GuildSetup(store, accounts, self.dispatch, config_secrets)
        self.member = MemberCommands(store, accounts)
        self.intake = Intake(
            store,
            accounts,
            observer,
            settings,
            calls=calls,
            rules=rules,
            dispatcher=self.dispatch,
            tracker=self.tracking,
            items=self,
        )
        self.submit = self.intake.submit
        self.press = self.intake.press
        self.bookmark = self.intake.bookmark
        self.cancel = self.intake.cancel

    @property
    def member_rate(self) -> MemberRate:
        """Per-member flood limit on new jobs and button presses (tests and the bench lift it)."""
        return self.intake.member_rate

    @member_rate.setter
    def member_rate(self, rate: MemberRate) -> None:
        self.intake.member_rate = rate

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
                self.dispatch.wake(job.guild_id)
            elif not job.status.terminal and job.backend_task_id:
                self.tracking.track(job.id, 0.0)  # fetch at once: pushes may have been missed
            if job.message_id is None or job.status.terminal:
                self._observer.job_changed(job)
        self.tracking.start()

    async def stop(self) -> None:
        await self.tracking.stop()
        await self.dispatch.stop()

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109 (a shutdown budget)
        """Start no more submits; wait (at most ``timeout``) for those under way to be answered."""
        await self.dispatch.drain(timeout)

    # ----------------------------------------------------------------------------- jobs

    async def get(self, job_id: int) -> Job | None:
        """The job as stored, with its place in the guild's queue while it waits there."""
        job = await self._store.get_job(job_id)
        position = self.dispatch.position(job_id) if job is not None else None
        if job is not None and job.status is JobStatus.QUEUED and position is not None:
            job = job.model_copy(update={"queue_position": position})
        return job

    async def click(self, job: Job, index: int, *, user_id: int) -> ClickPlan:
        """What ``user_id``'s click on button ``index`` of finished ``job`` does: one decision."""
        if self.is_item_action(job, index):
            return ClickPlan(Click.ITEM)
        return await self.clicks.plan(job, index, user_id=user_id)

    async def is_aimg(self, job: Job) -> bool:
        """Whether ``job`` shows AIMG content: a generation, or a follow-up of one (known from the
        job it came from, so even once its account is gone)."""
        while job.kind is not JobKind.GENERATE:
            parent = await self._store.get_job(job.parent_job_id) if job.parent_job_id else None
            if parent is None:
                return False
            job = parent
        return True

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

    # ------------------------------------------------------------------------------- AIMG

    @staticmethod
    def is_item_action(job: Job, index: int) -> bool:
        """Whether button ``index`` acts on the backend's item (like, delete…) rather than start a job."""
        return 0 <= index < len(job.buttons) and job.buttons[index].custom_id in ITEM_ACTIONS

    def item_backend(self, job: Job, index: int, user_id: int) -> tuple[AimgBackend, str]:
        """The client of the account that acts for ``user_id`` on ``job``'s item (the one that made
        it, see _acting_account), and the item's id, for item button ``index``; a UserError when
        the button or the account is gone."""
        if not self.is_item_action(job, index) or job.backend_task_id is None:
            raise UserError("This button is no longer available.")
        account_id = self.intake.acting_account(job, user_id, job.channel_id)
        if account_id is None or not self._accounts.usable(account_id):
            raise UserError("The account that made this image is not available any more.")
        backend = self._accounts.backend(account_id)
        if not isinstance(backend, AimgBackend):
            raise UserError("This button is no longer available.")
        return backend, job.backend_task_id

    async def item_action(
        self,
        job: Job,
        index: int,
        *,
        user_id: int,
        report_queue: str | None = None,
        details: str | None = None,
    ) -> str:
        """Like, dislike, delete or report the item a finished job made; the sentence to show.

        👍 and 👎 toggle: the member's vote on the item is stored, and the same button again takes
        it back. A report goes in ``report_queue`` (AIMG's category) with the member's ``details``."""
        check_text(details or "", "report")
        backend, item_id = self.item_backend(job, index, user_id)
        custom_id = job.buttons[index].custom_id
        pressed = vote_of(custom_id)
        vote: str | None = None
        if pressed is not None:
            toggled, vote = vote_verb(pressed, await self._store.aimg_vote(job.id, user_id))
            custom_id = aimg_custom_id(toggled)
        try:
            outcome = await backend.item_action(
                item_id, custom_id, report_queue=report_queue, information=details
            )
        except BackendError as exc:
            raise UserError(exc.user_message) from None
        verb = parse_verb(custom_id)
        done = "done" if outcome.success else "refused"
        log.info("job %s: %s by %s: %s", job.id, verb, user_id, done, extra=job_fields(job, BackendKind.AIMG))
        if not outcome.success:
            reason = f": {outcome.message}" if outcome.message else "."
            raise UserError(f"The image service did not {verb} this item{reason}")
        if pressed is not None:
            await self._store.set_aimg_vote(job.id, user_id, vote)
        if report_queue:
            return f"🚩 Reported as {report_queue}. Thanks: AIMG's moderators will review it."
        return ITEM_ACTIONS[custom_id]

    async def member_vote(self, job_id: int, user_id: int) -> str | None:
        """The member's 👍 ("like") or 👎 ("dislike") on job ``job_id``'s item; None: no vote."""
        return await self._store.aimg_vote(job_id, user_id)

    def aimg_account(
        self, guild_id: int, channel_id: int, user_id: int
    ) -> tuple[Account, AimgBackend] | None:
        """The AIMG account a member's generations here use, with its client: their own linked
        account when they have one, else the first usable shared AIMG account of the channel."""
        own = [
            a
            for a in self._accounts.for_guild(guild_id)
            if a.source == MEMBER_SOURCE and a.options.get("owner_id") == str(user_id)
        ]
        shared = self._accounts.shared(guild_id, channel_id, AIMG_KINDS)
        for account in own + shared:
            backend = self._accounts.backend(account.id)
            if self._accounts.usable(account.id) and isinstance(backend, AimgBackend):
                return account, backend
        return None

    async def link_member_account(
        self, *, guild_id: int, user_id: int, base_url: str, session_id: str, email: str
    ) -> Account:
        """Store a member's signed-in AIMG session; their generations here use it from now on."""
        account = await self._store.link_member_account(
            guild_id=guild_id, user_id=user_id, base_url=base_url, session_id=session_id, email=email
        )
        self._accounts.put(account)
        return account

    async def unlink_member_account(self, guild_id: int, user_id: int) -> Unlinked:
        """Sign a member's own AIMG session out at AIMG and forget it here. "here_only": AIMG did
        not confirm the sign-out (its session may live on); "none": they had no account linked."""
        account = await self._store.member_account(guild_id, user_id)
        if account is None:
            return "none"
        signed_out = await self._sign_out(account)
        await self._store.remove_account(account.id)
        await self.setup.reload_accounts()
        return "signed_out" if signed_out else "here_only"

    async def _sign_out(self, account: Account) -> bool:
        backend = self._accounts.backend(account.id) if self._accounts.get(account.id) else None
        if not isinstance(backend, AimgBackend):
            return False
        try:
            async with asyncio.timeout(SIGN_OUT_WAIT):
                # success False means the session had already ended: it is over either way.
                await backend.sign_out()
        except (BackendError, TimeoutError) as exc:
            log.info("account %s: AIMG sign-out failed (%s)", account.id, type(exc).__name__)
            return False
        return True

    async def _model_slot(self, job: Job, account_id: int) -> tuple[tuple[int, str], int] | None:
        """For a job on an AIMG account: (account, model) and how many of that model the account
        may run at once (AIMG's per-tier limit, docs/backends/aimg.md); None: no such limit."""
        backend = self._accounts.backend(account_id)
        model = backend.model_of(job.params) if isinstance(backend, AimgBackend) else None
        if not isinstance(backend, AimgBackend) or model is None:
            return None
        try:
            return (account_id, model), await backend.concurrency(model)
        except BackendError:
            return None  # unknown here: AIMG's own refusal (retried as queue full) still guards

    async def _aimg_load(self) -> Counter[tuple[int, str]]:
        """Jobs in flight per (AIMG account, model)."""
        load: Counter[tuple[int, str]] = Counter()
        for job in await self._store.jobs_by_ids({*self.tracking.tracked(), *self.dispatch.submitting_jobs}):
            account_id = self.dispatch.submitting_jobs.get(job.id, job.account_id)
            if job.status.terminal or account_id is None or not self._accounts.get(account_id):
                continue
            backend = self._accounts.backend(account_id)
            model = backend.model_of(job.params) if isinstance(backend, AimgBackend) else None
            if model is not None:
                load[(account_id, model)] += 1
        return load
