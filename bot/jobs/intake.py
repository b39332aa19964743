"""New jobs from members: a command (/imagine, /blend, /describe, /shorten, /aimg) or a result
button pressed, each checked and queued; ❤️ pressed at the service; a job cancelled."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from typing import Protocol, cast

from bot.backends.base import Capability, SupportsCancel
from bot.backends.picks import IMAGINE_ALL, parse_options, pick_number
from bot.config import JobSettings
from bot.domain import MEMBER_SOURCE, Account, BackendError, Job, JobKind, JobStatus, Reply, ResultButton
from bot.i18n import tr
from bot.jobs import mj_settings
from bot.jobs.accounts import AccountPool
from bot.jobs.calls import CallCounter, UserError, guarded
from bot.jobs.clicks import is_bookmark, on_aimg
from bot.jobs.dispatch import Dispatcher
from bot.jobs.image_urls import url_params
from bot.jobs.rules import (
    FIELD_NAMES,
    MAX_PROMPT_CHARS,
    MemberRate,
    Rules,
    check_prompt_fits,
    check_text,
)
from bot.jobs.tracking import JobObserver, Tracker
from bot.logs import job_fields
from bot.store import Store

log = logging.getLogger(__name__)


class ItemActions(Protocol):
    """What the AIMG part (:class:`bot.jobs.aimg_items.AimgPart`) does for a click: act on an
    item, or find the AIMG account a member's generations use."""

    def is_item_action(self, job: Job, index: int) -> bool: ...

    async def item_action(self, job: Job, index: int, *, user_id: int) -> str: ...

    def account(self, guild_id: int, channel_id: int, user_id: int) -> Account | None: ...


class Intake:
    """Checks a member's request against the guild's rules, stores it as a QUEUED job and asks
    for a dispatch pass."""

    def __init__(
        self,
        store: Store,
        accounts: AccountPool,
        observer: JobObserver,
        settings: JobSettings,
        *,
        calls: CallCounter,
        rules: Rules,
        dispatcher: Dispatcher,
        tracker: Tracker,
        items: ItemActions,
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._observer = observer
        self._settings = settings
        self._calls = calls
        self._rules = rules
        self._dispatcher = dispatcher
        self._tracker = tracker
        self._items = items
        #: Per-member flood limit on new jobs and button presses (tests and the bench lift it).
        self.member_rate = MemberRate()

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
            raise UserError(tr("The prompt is empty. Describe the image you want."))
        if len(prompt) > MAX_PROMPT_CHARS:
            raise UserError(
                tr(
                    "The prompt is {length} characters; the limit is {limit}.",
                    length=len(prompt),
                    limit=MAX_PROMPT_CHARS,
                )
            )
        check_text(prompt)
        for key, value in (params or {}).items():
            check_text(value, FIELD_NAMES.get(key, f"{key} value"))
        if kind is JobKind.BLEND and not 2 <= len(images) <= 5:
            raise UserError(tr("Blend needs 2 to 5 images."))
        if kind is JobKind.DESCRIBE and len(images) != 1:
            raise UserError(tr("Describe needs exactly one image."))
        config = await self._store.guild_config(guild_id)
        if account_id is None:
            self._rules.check_served(config, guild_id, channel_id, kind)
            self._rules.check_length(config, guild_id, channel_id, kind, prompt, image_urls)
        # An /imagine is checked as it will be sent: with the member's settings flags and suffix.
        banning = bool(config.banned_words or config.banned_patterns)
        sent = (
            mj_settings.apply(prompt, await self._store.user_prefs(guild_id, owner_id))
            if kind is JobKind.IMAGINE and banning
            else prompt
        )
        await self._rules.check_allowed(config, guild_id, channel_id, owner_id, prompt, sent)
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
        self._dispatcher.wake(guild_id)
        return job

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
            raise UserError(tr("This button is no longer available. Run /imagine again."))
        button = parent.buttons[index]
        if self._items.is_item_action(parent, index):
            await self._items.item_action(parent, index, user_id=user_id)
            return []
        picked = _picked_prompts(parent, button)
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
        check_text(prompt or "")
        config = await self._store.guild_config(parent.guild_id)
        await self._rules.check_allowed(
            config, parent.guild_id, channel_id, user_id, prompt or "", prompt or ""
        )
        account_id = self.acting_account(parent, user_id, channel_id)
        if account_id is None or not self._accounts.usable(account_id):
            raise UserError(
                tr(
                    "The account that made this image is not available any more, so its buttons cannot "
                    "work. Run /imagine again."
                )
            )
        acting = self._accounts.get(account_id)
        if prompt and acting is not None:
            check_prompt_fits(acting.kind, prompt.strip())
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
            # A follow-up runs on the account that holds its parent task (see acting_account).
            account_id=account_id,
            inputs=[mask_png] if mask_png else (),
            params=self._follow_up_params(parent, button, prompt, remix),
            reply=reply,
        )
        self._observer.job_changed(job)
        self._dispatcher.wake(parent.guild_id)
        return [job]

    def acting_account(self, job: Job, user_id: int, channel_id: int) -> int | None:
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
        found = self._items.account(job.guild_id, channel_id, user_id)
        if found is None:
            raise UserError(
                tr(
                    "This image was made with <@{owner}>'s own AIMG account, which only they can use, "
                    "and no AIMG account of this server is available. Ask a server admin.",
                    owner=owner,
                )
            )
        return found.id

    def _follow_up_params(
        self, parent: Job, button: ResultButton, prompt: str | None, remix: bool
    ) -> dict[str, str] | None:
        """A follow-up's params: what a modal gave; on AIMG also the parent's generation settings,
        so its result offers "Use these settings" too (a re-roll's seed is new, so not kept)."""
        params: dict[str, str] = {}
        if on_aimg(self._accounts, parent.account_id):
            params.update(parent.params)
            if button.kind is JobKind.REROLL:
                params.pop("seed", None)
        if prompt:
            params["prompt"] = prompt.strip()
            if remix:
                params["remix"] = "1"
        return params or None

    async def bookmark(self, job: Job, index: int, *, user_id: int) -> None:
        """Press ❤️ on a finished job's result at its service, with no job of its own; a
        UserError with the service's refusal."""
        self.member_rate.check(job.guild_id, user_id)
        account_id = job.account_id
        if not is_bookmark(job, index) or job.backend_task_id is None or account_id is None:
            raise UserError(tr("This button is no longer available. Run /imagine again."))
        if not self._accounts.usable(account_id):
            raise UserError(
                tr("The account that made this image is not available any more. Run /imagine again.")
            )
        backend = self._accounts.backend(account_id)
        self._calls.call(account_id)
        call = backend.action(job.backend_task_id, job.buttons[index].custom_id)
        try:
            await guarded(backend, job.id, "bookmark", call)
        except BackendError as exc:
            self._calls.failed(account_id, exc)
            raise UserError(exc.user_message) from None

    async def cancel(self, job_id: int) -> str | None:
        """Stop a queued or running job; the backend is asked to cancel too when it can. None
        when nothing runs at the service any more, else the service that may still finish it.
        The service is asked outside the job's lock: it may push the job's new state before it
        answers (useapi.net), and that push waits for the lock."""
        async with self._tracker.lock(job_id):
            job = await self._store.get_job(job_id)
        if job is None or job.status.terminal:
            raise UserError(tr("This job has already finished."))
        still_running: str | None = None
        if job.backend_task_id and job.account_id is not None:
            backend = self._accounts.backend(job.account_id)
            still_running = backend.service
            if Capability.CANCEL in backend.capabilities:
                call = cast(SupportsCancel, backend).cancel(job.backend_task_id)
                try:
                    await guarded(backend, job_id, "cancel", call)
                    still_running = None
                except BackendError as exc:
                    # The job is ours to stop either way; the backend may finish it unseen.
                    extra = job_fields(job, self._calls.service(job.account_id))
                    log.info("job %s: backend cancel failed (%s)", job_id, exc.kind.value, extra=extra)
        async with self._tracker.lock(job_id):
            job = await self._store.get_job(job_id)
            if job is not None and job.status is JobStatus.CANCELLED:
                return still_running  # the service's push said so first
            if job is None or job.status.terminal:
                raise UserError(tr("This job has already finished."))
            job = await self._store.update_job(job_id, status=JobStatus.CANCELLED)
        self._tracker.after_change(job)
        return still_running


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
        raise UserError(tr("That option is not in the result any more. Run the command again."))
    return [options[number - 1]]
