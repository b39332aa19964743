"""Sending a dispatched job to its backend: the call each job kind makes, what the answer means
for the job, and what a refusal means for the account (busy, held, resting after failures)."""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from typing import cast

from bot.backends.base import (
    Backend,
    Capability,
    SupportsBlend,
    SupportsBlendUrls,
    SupportsCustomZoom,
    SupportsDescribe,
    SupportsDescribeUrl,
    SupportsGenerate,
    SupportsImagineUrls,
    SupportsModal,
    SupportsNiji,
    SupportsRemix,
    SupportsShorten,
    SupportsVaryRegion,
)
from bot.config import JobSettings
from bot.domain import (
    BackendError,
    Dimensions,
    ErrorKind,
    Job,
    JobKind,
    JobStatus,
    ResultButton,
    SubmitResult,
    UserPrefs,
)
from bot.jobs import mj_settings
from bot.jobs.accounts import AccountPool
from bot.jobs.calls import CallCounter, capable, guarded
from bot.jobs.dispatch import Dispatcher
from bot.jobs.image_urls import expired, job_urls
from bot.jobs.member import imagine_accounts, service_keeps_settings
from bot.jobs.rules import Rules, job_kinds
from bot.jobs.tracking import JobObserver, Tracker
from bot.logs import job_fields
from bot.store import Store
from bot.store.coordination import News

log = logging.getLogger(__name__)

#: Errors that take an account out of rotation until an admin resets it.
_HOLDS = frozenset({ErrorKind.AUTH, ErrorKind.MODERATION})
#: Submits in a row an account may fail as unreachable before it leaves rotation for a while.
FAILURES_BEFORE_QUARANTINE = 3
#: How long such an account stays out: an outage, unlike a ban, ends by itself.
FAILURE_QUARANTINE_SECONDS = 300.0
#: Jobs that start a task of their own at the service (not a button's follow-up).
_NEW_TASK_KINDS = frozenset({JobKind.IMAGINE, JobKind.BLEND, JobKind.DESCRIBE, JobKind.SHORTEN})
_DIMENSIONS: dict[str, Dimensions] = {"PORTRAIT": "PORTRAIT", "SQUARE": "SQUARE", "LANDSCAPE": "LANDSCAPE"}


class Submitter:
    """Submits jobs whose account slot the dispatcher claimed, and answers its refusals."""

    def __init__(
        self,
        store: Store,
        accounts: AccountPool,
        observer: JobObserver,
        settings: JobSettings,
        calls: CallCounter,
        rules: Rules,
        dispatcher: Dispatcher,
        tracker: Tracker,
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._observer = observer
        self._settings = settings
        self._calls = calls
        self._rules = rules
        self._dispatcher = dispatcher
        self._tracker = tracker
        #: Base URL of this bot's webhook endpoint; None means poll only.
        self.hook_base_url: str | None = None
        #: Submits in a row each account failed as unreachable (reset by an accepted submit).
        self._failures: Counter[int] = Counter()
        self._rng = random.Random()

    async def submit(self, job: Job, account_id: int) -> None:
        """Send queued ``job`` to ``account_id`` (whose slot was claimed for it)."""
        service = self._calls.service(account_id)
        async with self._tracker.lock(job.id):
            current = await self._store.get_job(job.id)
            if current is None or current.status is not JobStatus.QUEUED:
                return
            if current.kind is JobKind.IMAGINE and current.action_custom_id is None:
                current = current.model_copy(update={"prompt": await self._with_settings(current)})
            # Durable before the call: a crash from here until the task id is stored leaves
            # a trace that start() turns into a clear failure instead of a second submit.
            await self._store.mark_submitting(job.id, account_id)
            try:
                backend = self._accounts.backend(account_id)
                self._calls.call(account_id)
                call = self._call_backend(current, backend)
                result = await guarded(backend, job.id, "submit", call)
            except BackendError as exc:
                await self._store.mark_submitting(job.id, None)
                self._calls.failed(account_id, exc)
                await self._submit_failed(current, account_id, exc)
                return
            self._failures.pop(account_id, None)
            if service is not None:
                self._calls.metrics.job_started(job.id, service)
            if result.no_task or (
                result.existing and await self._store.job_of_task(account_id, result.task_id) is not None
            ):
                # No task of its own to follow (one job per task: the other job shows it).
                done = await self._store.update_job(
                    job.id, account_id=account_id, status=JobStatus.SUCCESS, progress=100
                )
                self._tracker.after_change(done)
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
                deadline=time.time() + await self._tracker.timeout_seconds(current.guild_id),
            )
            self._tracker.track(job.id)
        self._observer.job_changed(updated)

    async def _with_settings(self, job: Job) -> str:
        """The member's settings as prompt flags (unless the prompt sets them); where the
        channel's panel is its service's own, that applies its own."""
        prefs = await self._store.user_prefs(job.guild_id, job.owner_id)
        config = await self._store.guild_config(job.guild_id)
        if service_keeps_settings(imagine_accounts(self._accounts, config, job.guild_id, job.channel_id)):
            prefs = UserPrefs(suffix=prefs.suffix)
        return mj_settings.apply(job.prompt, prefs)

    async def _submit_failed(self, job: Job, account_id: int, exc: BackendError) -> None:
        """A submit was refused. Busy accounts are retried later, held ones leave rotation and
        the job moves to another account when it can; everything else fails the job."""
        pinned = job.account_id is not None  # follow-ups must run where their parent task is
        if exc.kind is ErrorKind.UNAVAILABLE:
            self._failures[account_id] += 1
            if self._failures[account_id] >= FAILURES_BEFORE_QUARANTINE:
                self._quarantine_for_a_while(account_id, exc)
        if exc.kind in _HOLDS:
            reason = f"{exc.kind.value}: {exc.detail}"[:300]
            await self._store.set_account_quarantine(account_id, reason)
            self._accounts.quarantine(account_id, reason)
            await self._store.notify(News("accounts"))  # the dispatcher may be another process
            extra = job_fields(job, self._calls.service(account_id))
            log.warning("account %s taken out of rotation (%s)", account_id, exc.kind.value, extra=extra)
            kinds = job_kinds(job.kind, job.channel_id, await self._store.guild_config(job.guild_id))
            if not pinned and self._rules.can_ever_run(job, kinds):
                self._dispatcher.wake(job.guild_id)
                return
        elif exc.kind is ErrorKind.QUEUE_FULL and time.time() < job.deadline:
            # Wait (jittered ±25%) and retry within the job's deadline; meanwhile the account is full.
            backoff = self._settings.queue_full_retry_seconds * (0.75 + 0.5 * self._rng.random())
            self._dispatcher.cooldowns.cool(account_id, backoff)
            updated = await self._store.update_job(job.id, error_kind=exc.kind, error_detail=exc.detail)
            self._observer.job_changed(updated)
            self._dispatcher.wake_later(job.guild_id, backoff)
            return
        await self._tracker.finish_failed(job, exc.kind, exc.detail, account_id=account_id)

    def _quarantine_for_a_while(self, account_id: int, exc: BackendError) -> None:
        """Rest an account that keeps failing, so the next jobs go elsewhere.

        It counts as full for FAILURE_QUARANTINE_SECONDS: queued jobs wait for it (within their
        deadline) or take another account, rather than failing. In memory only: an outage ends by
        itself, so no admin reset is needed (and a restart gives it a fresh chance)."""
        self._failures.pop(account_id, None)
        reason = f"{FAILURES_BEFORE_QUARANTINE} submits in a row failed ({exc.detail})"[:300]
        self._dispatcher.cooldowns.cool(account_id, FAILURE_QUARANTINE_SECONDS, resting=reason)
        log.warning("account %s out of rotation for a while: %s", account_id, reason)
        account = self._accounts.get(account_id)
        if account is not None:
            self._dispatcher.wake_later(account.guild_id, FAILURE_QUARANTINE_SECONDS)

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
                return await capable(backend, Capability.REMIX, SupportsRemix).remix(
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
                confirm = capable(backend, Capability.MODAL, SupportsModal)
                prompt = job.params.get("prompt") or result.final_prompt or parent.prompt
                result = await confirm.modal(result.task_id, prompt, inputs[0] if inputs else None)
            return result
        if Capability.NIJI in backend.capabilities and job.kind in _NEW_TASK_KINDS:
            prefs = await self._store.user_prefs(job.guild_id, job.owner_id)
            if mj_settings.wants_niji(job.prompt, prefs):
                backend = capable(backend, Capability.NIJI, SupportsNiji).for_niji()
        if job.kind is JobKind.BLEND:
            dimensions: Dimensions = _DIMENSIONS.get(job.params.get("dimensions", ""), "SQUARE")
            if Capability.BLEND not in backend.capabilities and Capability.BLEND_URLS in backend.capabilities:
                urls = _fresh_urls(job, "/blend")
                return await cast(SupportsBlendUrls, backend).blend_urls(
                    urls, dimensions, hook_url=hook, state=state
                )
            blender = capable(backend, Capability.BLEND, SupportsBlend)
            return await blender.blend(inputs, dimensions, hook_url=hook, state=state)
        if job.kind is JobKind.DESCRIBE:
            if (
                Capability.DESCRIBE not in backend.capabilities
                and Capability.DESCRIBE_URL in backend.capabilities
            ):
                [url] = _fresh_urls(job, "/describe")
                return await cast(SupportsDescribeUrl, backend).describe_url(url, hook_url=hook, state=state)
            describer = capable(backend, Capability.DESCRIBE, SupportsDescribe)
            return await describer.describe(inputs[0], hook_url=hook, state=state)
        if job.kind is JobKind.SHORTEN:
            shortener = capable(backend, Capability.SHORTEN, SupportsShorten)
            return await shortener.shorten(job.prompt, hook_url=hook, state=state)
        if job.kind is JobKind.GENERATE:
            generator = capable(backend, Capability.GENERATE, SupportsGenerate)
            return await generator.generate({**job.params, "prompt": job.prompt}, state=state)
        if inputs and Capability.IMAGINE_URLS in backend.capabilities:
            return await cast(SupportsImagineUrls, backend).imagine_urls(
                job.prompt, _fresh_urls(job, "/imagine"), hook_url=hook, state=state
            )
        return await backend.imagine(job.prompt, inputs, hook_url=hook, state=state)


def _fresh_urls(job: Job, command: str) -> list[str]:
    """The job's image URLs for a service that fetches them; LINKS_EXPIRED once Discord's
    signature on them has expired (the job waited too long in the queue)."""
    urls = job_urls(job)
    if not urls:
        raise BackendError(ErrorKind.INVALID_INPUT, f"This job has no image links. Run {command} again.")
    if expired(urls):
        raise BackendError(ErrorKind.LINKS_EXPIRED, f"Upload the images with {command} again.")
    return urls
