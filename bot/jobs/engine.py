"""The job engine: a thin facade over the parts that queue, submit and follow jobs. It knows jobs
and accounts; how a job looks on Discord is the observer's business (see :class:`JobObserver`).

- ``intake`` (:mod:`bot.jobs.intake`): a member's command or button press becomes a queued job.
- ``clicks`` (:mod:`bot.jobs.clicks`): a result's buttons, and what a click on one does.
- ``dispatch`` (:mod:`bot.jobs.dispatch`): the fair per-server queue and account capacity.
- ``leadership`` (:mod:`bot.jobs.leader`): which process assigns queued jobs, and the news between them.
- ``submitting`` (:mod:`bot.jobs.submitting`): the backend call, and what its refusal means.
- ``tracking`` (:mod:`bot.jobs.tracking`): pushes, polling, snapshots applied, timeouts.
- ``setup`` (:mod:`bot.jobs.guild_setup`): accounts and guild configuration, by admins.
- ``member`` (:mod:`bot.jobs.member`): /settings, /prefer suffix, /seed, the account's status.
- ``aimg`` (:mod:`bot.jobs.aimg_items`): AIMG's accounts, item actions and per-model limits.

Every state change is written to the store before anyone is told about it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping

import httpx

from bot.config import JobSettings
from bot.domain import ErrorKind, Job, JobKind, JobStatus
from bot.jobs.accounts import AccountPool
from bot.jobs.aimg_items import AimgPart
from bot.jobs.calls import CallCounter
from bot.jobs.clicks import Click, ClickPlan, Clicks
from bot.jobs.dispatch import Dispatcher
from bot.jobs.guild_setup import GuildSetup
from bot.jobs.intake import Intake
from bot.jobs.leader import Leadership
from bot.jobs.member import MemberCommands
from bot.jobs.rules import MemberRate, Rules
from bot.jobs.submitting import Submitter
from bot.jobs.tracking import JobObserver, Tracker
from bot.metrics import Metrics
from bot.net import allowed_image_url
from bot.store import Store

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
        owns: Callable[[int], bool] = lambda guild_id: True,
    ) -> None:
        self._store = store
        self.metrics = metrics or Metrics()
        self._accounts = accounts
        self._observer = observer
        #: Whether this process runs the guild's jobs (its shard, docs/scaling.md).
        self._owns = owns
        calls = CallCounter(accounts, self.metrics)
        rules = Rules(store, accounts)
        self.clicks = Clicks(store, accounts)
        self.aimg = AimgPart(
            store,
            accounts,
            acting_account=lambda job, user_id, channel: self.intake.acting_account(job, user_id, channel),
            reload_accounts=lambda: self.setup.reload_accounts(),
        )
        self.tracking = Tracker(
            store,
            accounts,
            observer,
            settings,
            calls,
            result_buttons=self.clicks.result_buttons,
            wake=lambda job: self.dispatch.job_ended(job),
        )
        self.dispatch = Dispatcher(
            store,
            accounts,
            observer,
            rules,
            self.tracking,
            start=lambda job, account_id: self.submitting.submit(job, account_id),
            model_slot=self.aimg.model_slot,
            model_load=self._aimg_load,
            owns=owns,
        )
        self.submitting = Submitter(
            store, accounts, observer, settings, calls, rules, self.dispatch, self.tracking
        )
        self.setup = GuildSetup(store, accounts, self.dispatch, config_secrets)
        self.leadership = Leadership(store, self.dispatch, self.setup.sync_accounts)
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
            items=self.aimg,
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
        """Pick up every job a previous run left unfinished in this process's guilds (another
        process's, from a run that died, too, when their shards are now ours), then start polling."""
        # A job whose submit was under way may exist at the backend: sending it again could make
        # it twice, and midjourney-proxy cannot be searched by our `state` on every flavour. It
        # fails clearly. All are written before anything can dispatch (a dispatch would submit
        # the rest again); the loop below publishes them with the other unposted finals.
        for interrupted in await self._store.jobs_by_ids(await self._store.interrupted_submits()):
            if not self._owns(interrupted.guild_id):
                continue  # another process may be sending it now
            await self._store.update_job(
                interrupted.id,
                status=JobStatus.FAILURE,
                error_kind=ErrorKind.UNAVAILABLE,
                error_detail=INTERRUPTED_SUBMIT,
            )
        # Leading or not is known before anything is dispatched.
        await self.leadership.start()
        for job in await self._store.unfinished_jobs():
            if not self._owns(job.guild_id):
                continue
            if job.status is JobStatus.QUEUED:
                self.dispatch.wake(job.guild_id)
            elif not job.status.terminal and job.backend_task_id:
                self.tracking.track(job.id, 0.0)  # fetch at once: pushes may have been missed
            if job.message_id is None or job.status.terminal:
                self._observer.job_changed(job)
        self.tracking.start()

    async def stop(self) -> None:
        await self.leadership.stop()
        await self.tracking.stop()
        await self.dispatch.stop()

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109 (a shutdown budget)
        """Start no more submits (another process may lead from now on); wait (at most
        ``timeout``) for those under way to be answered."""
        await self.leadership.stop()
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
        if self.aimg.is_item_action(job, index):
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

    async def _aimg_load(self) -> Counter[tuple[int, str]]:
        """Jobs in flight per (AIMG account, model): every job being submitted or tracked."""
        jobs = await self._store.jobs_by_ids({*self.tracking.tracked(), *self.dispatch.submitting_jobs})
        return await self.aimg.model_load(
            (job, self.dispatch.submitting_jobs.get(job.id, job.account_id)) for job in jobs
        )
