"""Following running jobs: webhook pushes first, polling as the fallback, each backend snapshot
applied under the job's lock (stale and repeated ones dropped), and timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Protocol, cast

from bot.backends.base import Capability, SupportsFetchMany
from bot.config import JobSettings
from bot.domain import BackendError, ErrorKind, Job, JobKind, JobStatus, ResultButton, TaskSnapshot
from bot.jobs.accounts import AccountPool
from bot.jobs.calls import CallCounter, guarded, unexpected
from bot.logs import job_fields
from bot.store import Store

log = logging.getLogger(__name__)

#: A job whose backend pushes its updates is polled after this many poll intervals of silence
#: (a midjourney-proxy pushes every change; its steps can be far apart).
PUSHED_POLL_FACTOR = 4


class JobObserver(Protocol):
    """Told after every durable change of a job (the Discord publisher implements it)."""

    def job_changed(self, job: Job) -> None: ...


class Tracker:
    """Running jobs: their locks, their last news, the poller, and every write of their fate.

    ``result_buttons`` gives a finished job's buttons from its backend's; ``wake`` is told of a
    job that ended (it frees its account's slot)."""

    def __init__(
        self,
        store: Store,
        accounts: AccountPool,
        observer: JobObserver,
        settings: JobSettings,
        calls: CallCounter,
        *,
        result_buttons: Callable[[Job, TaskSnapshot], list[ResultButton]],
        wake: Callable[[Job], None],
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._observer = observer
        self._settings = settings
        self._calls = calls
        self._result_buttons = result_buttons
        self._wake = wake
        self._job_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        #: Running jobs with the time of their last news from the backend.
        self._tracked: dict[int, float] = {}
        #: Running jobs whose backend has pushed to us: polling them is only a safety net.
        self._pushed: set[int] = set()
        self._poller: asyncio.Task[None] | None = None

    def lock(self, job_id: int) -> asyncio.Lock:
        """The lock every write of ``job_id``'s state is made under."""
        return self._job_locks[job_id]

    def track(self, job_id: int, seen: float | None = None) -> None:
        """Follow ``job_id``, last heard of at ``seen`` (monotonic; now by default, 0: fetch now)."""
        self._tracked[job_id] = time.monotonic() if seen is None else seen

    def tracked(self) -> Iterable[int]:
        return self._tracked.keys()

    def start(self) -> None:
        self._poller = asyncio.create_task(self._poll_forever(), name="mjbot-poller")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller

    async def timeout_seconds(self, guild_id: int) -> float:
        """How long a job of the guild may run: its /setup limit, else the bot's default."""
        minutes = (await self._store.guild_config(guild_id)).limits.job_timeout_minutes
        return minutes * 60.0 if minutes else self._settings.timeout_seconds

    async def hook_secret_matches(self, job_id: int, secret: str) -> bool:
        """Whether ``secret`` is job ``job_id``'s webhook secret; the same False for an unknown job."""
        return _secret_matches(await self._store.get_job(job_id), secret)

    async def on_push(self, job_id: int, secret: str, body: object) -> bool:
        """A backend webhook for ``job_id``. False when the job or its secret does not match."""
        # The job is read once, under its lock. A backend may push before its submit call has
        # answered (midjourney-proxy starts the task first): the submit holds the lock, so such a
        # push waits for the task id to be stored, and is applied.
        self._calls.metrics.pushes.inc()
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
                    unexpected(backend, job_id, "parse_push", exc)
                extra = job_fields(job, self._calls.service(job.account_id))
                log.warning("job %s: unreadable webhook body ignored", job_id, extra=extra)
                return True
            changed = await self.apply_to(job, snapshot, pushed=True)
        if changed is not None:
            self.after_change(changed)
        return True

    async def _apply(self, job_id: int, snap: TaskSnapshot) -> None:
        async with self._job_locks[job_id]:
            job = await self._store.get_job(job_id)
            changed = await self.apply_to(job, snap) if job is not None else None
        if changed is not None:
            self.after_change(changed)

    async def apply_to(self, job: Job, snap: TaskSnapshot, *, pushed: bool = False) -> Job | None:
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
            job = await self._store.update_job(
                job_id,
                status=JobStatus.SUCCESS,
                progress=100,
                image_url=snap.image_url,
                result_urls=snap.result_urls,
                buttons=self._result_buttons(job, snap),
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

    async def finish_failed(
        self, job: Job, kind: ErrorKind, detail: str, *, account_id: int | None = None
    ) -> None:
        fields: dict[str, object] = {"status": JobStatus.FAILURE, "error_kind": kind, "error_detail": detail}
        if account_id is not None:
            fields["account_id"] = account_id
        updated = await self._store.update_job(job.id, **fields)
        self.after_change(updated)

    def _untrack(self, job_id: int) -> None:
        """Stop polling ``job_id`` (it ended)."""
        self._tracked.pop(job_id, None)
        self._pushed.discard(job_id)

    def after_change(self, job: Job) -> None:
        if job.status.terminal:
            self._calls.metrics.job_ended(job, self._calls.service(job.account_id))
            self._untrack(job.id)
            self._job_locks.pop(job.id, None)
            # Capacity was freed: start whatever was waiting.
            self._wake(job)
        self._observer.job_changed(job)

    async def _poll_forever(self) -> None:
        interval = self._settings.poll_interval_seconds
        while True:
            await asyncio.sleep(min(interval, 1.0))
            try:
                await self.poll_once()
            except Exception:
                log.exception("poller pass failed; next pass in %.1f s", interval)

    async def poll_once(self) -> None:
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
                    limit = await self.timeout_seconds(job.guild_id)
                    detail = f"No result within {limit / 60:g} minutes."
                    await self.finish_failed(job, ErrorKind.TIMEOUT, detail)
                continue
            self._tracked[job.id] = now_mono
            by_account[job.account_id].append((job, job.backend_task_id))
        await asyncio.gather(*(self._poll_account(a, jobs) for a, jobs in by_account.items()))

    async def _poll_account(self, account_id: int, jobs: list[tuple[Job, str]]) -> None:
        """Fetch one account's due tasks: in one request when its backend lists tasks by id
        (midjourney-proxy's list-by-condition), else one by one (one request at a time per account)."""
        backend = self._accounts.backend(account_id)
        if Capability.FETCH_MANY in backend.capabilities:
            self._calls.call(account_id)
            call = cast(SupportsFetchMany, backend).fetch_many([task_id for _, task_id in jobs])
            try:
                snaps = await guarded(backend, jobs[0][0].id, "fetch_many", call)
            except BackendError as exc:
                self._calls.failed(account_id, exc)
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
            self._calls.call(account_id)
            try:
                snap = await guarded(backend, job.id, "fetch", backend.fetch(task_id))
            except BackendError as exc:
                self._calls.failed(account_id, exc)
                if exc.kind is ErrorKind.UNEXPECTED:
                    await self._fetch_failed(job, exc)
                    continue
                extra = job_fields(job, self._calls.service(account_id))
                log.info("job %s: fetch failed (%s); will retry", job.id, exc.kind.value, extra=extra)
                continue
            await self._apply_fetched(job, snap)

    async def _fetch_failed(self, job: Job, exc: BackendError) -> None:
        """A fetch the backend's client could not make sense of: retrying would not help."""
        async with self._job_locks[job.id]:
            current = await self._store.get_job(job.id)
            if current is not None and not current.status.terminal:
                await self.finish_failed(current, exc.kind, exc.detail)

    async def _apply_fetched(self, job: Job, snap: TaskSnapshot | None) -> None:
        if snap is None:
            async with self._job_locks[job.id]:
                await self.finish_failed(job, ErrorKind.NOT_FOUND, "The image service lost this job.")
            return
        await self._apply(job.id, snap)


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
