"""The one place that posts and edits job messages, and the one scheduler of those writes.

The engine reports every job change here (:meth:`JobPublisher.job_changed`, never blocking). Only
the latest state of each job is kept, so a burst of progress updates becomes one edit, and an
update that would not change what the message shows is dropped.

Two routes lead to a job's message:

* **the interaction's webhook** (``/webhooks/{application}/{token}/messages/{id}``), when the job's
  message is the response of the interaction that started it (:class:`bot.domain.Reply`, see
  ``bot/discord_side/replies.py``) and its token lives (15 minutes). Discord keeps these writes outside the
  global budget and the channel edit limit, so the writes a member waits for, the message's first
  content and the final result, go this way at once, whatever else is queued;
* **the channel** (``/channels/{id}/messages``), for every progress edit and for messages no live
  interaction owns (after 15 minutes, "Imagine all"'s extra jobs). These spend the bot's rate
  budget, so each is scheduled against it:

  * the global budget (about 50 requests/s per bot token): at most ``GLOBAL_WRITES`` writes in any
    ``GLOBAL_WINDOW``, so the bot never meets a 429;
  * the per-channel budgets (about 5 posts and 5 edits per 5 s each): at most ``CHANNEL_WRITES``
    per ``CHANNEL_WINDOW`` per channel and kind.

Progress edits are the elastic part: they fill what the budget leaves, so a busy bot uses the
budget fully without a 429. Budgeted writes go in priority order: finals, first posts, progress
edits, so an urgent write waits at most for the next free slot; within a priority the waiting
channels take turns, and a channel's own writes go oldest change first. Progress edits are the only
writes that may be dropped: under pressure they wait, coalesce (only a job's latest state is
kept), and are superseded by the final. Progress edits of one job are also at least
``progress_edit_seconds`` apart. One message is written at a time per job, so edits never
overtake each other.

A budgeted write's slot is taken when the write is chosen and stamped with the time its request
leaves (after the store read and the image download), which is what Discord's windows count.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import io
import logging
import math
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import discord
import httpx
from discord.http import handle_message_parameters
from discord.utils import MISSING

from bot.discord_side.render import job_content, job_view, result_embed, short_final
from bot.domain import Job, JobStatus, Reply
from bot.http_client import read_capped
from bot.logs import job_fields

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot

log = logging.getLogger(__name__)

#: Largest result image the bot re-uploads; above it the message links to the image instead.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
#: Largest video re-uploaded (Discord's upload limit for servers without boosts); above it, a link.
MAX_VIDEO_BYTES = 8 * 1024 * 1024
#: Discord's per-channel budget for each of posts and edits (observed: 5 per 5 s). The window is
#: a little longer than Discord's so that jitter in when requests arrive never makes a sixth.
CHANNEL_WRITES = 5
CHANNEL_WINDOW = 5.2
#: Discord's global budget is 50 requests/s per token. Two spare requests cover the few writes
#: outside the publisher; the longer window absorbs arrival jitter (48 / 1.05 s ≈ 45.7/s, 91%).
GLOBAL_WRITES = 48
GLOBAL_WINDOW = 1.05
#: An interaction token this close to its expiry is not used (a write may take this long).
REPLY_MARGIN = 60.0
#: The scheduler looks at its queues at most this often: a change after a quiet spell is served
#: at once, and the changes that come within ``TICK`` of a pass share the next one.
TICK = 0.02

#: A channel budget: (channel id, "post" | "edit").
Bucket = tuple[int, str]

#: Write priorities, most urgent first.
FINAL, POST, PROGRESS = 0, 1, 2


@dataclass
class _Rendering:
    """What a job's message is to show, ready for either route."""

    job: Job
    content: str
    embed: discord.Embed | None
    #: The result file (bytes, filename), attached anew on each request.
    upload: tuple[bytes, str] | None
    mentions: discord.AllowedMentions
    #: The message already shows this view (a running job's Cancel button): an edit leaves it.
    view_shown: bool
    #: False for a short final: text only, no buttons.
    with_view: bool = True

    @cached_property
    def view(self) -> discord.ui.View | None:
        return job_view(self.job) if self.with_view else None

    @property
    def edited_view(self) -> Any:
        """The ``view`` of an edit: MISSING leaves the message's buttons as they are."""
        return MISSING if self.view_shown else self.view

    def files(self) -> list[discord.File]:
        # A discord.File is closed once sent, so a second route needs a fresh one.
        return [discord.File(io.BytesIO(self.upload[0]), filename=self.upload[1])] if self.upload else []


class _Window:
    """At most ``limit`` writes in any ``window`` seconds: the writes chosen but not yet sent,
    and a log of send times, oldest first (so a check looks only at the log's front)."""

    def __init__(self, limit: int, window: float) -> None:
        self._limit = limit
        self._window = window
        self._pending = 0
        self._sent: deque[float] = deque()

    def free(self, now: float) -> int:
        """Writes that may go now."""
        horizon = now - self._window
        sent = self._sent
        while sent and sent[0] <= horizon:
            sent.popleft()
        return self._limit - self._pending - len(sent)

    def free_at(self, now: float) -> float | None:
        """When a write may go: ``now`` or later, or None when only a pending write's completion
        can free a slot."""
        if self.free(now) > 0:
            return now
        return self._sent[0] + self._window if self._sent else None

    def take(self) -> None:
        self._pending += 1

    def sent(self, at: float) -> None:
        """A pending write's request left at ``at``: now, by the monotonic clock, so the log
        stays in order by appending."""
        self._pending -= 1
        self._sent.append(at)

    def give_back(self) -> None:
        """A pending write that sent nothing after all."""
        self._pending -= 1


class _Slot:
    """One write counted against the global budget and its channel's (``bucket``), until its
    request leaves."""

    def __init__(self, bucket: Bucket, *windows: _Window) -> None:
        self.bucket = bucket
        self._windows = windows
        self._pending = True
        for window in windows:
            window.take()

    def send(self) -> None:
        """The request leaves now: this is the moment Discord's windows count."""
        if self._pending:
            self._pending = False
            now = time.monotonic()
            for window in self._windows:
                window.sent(now)

    def release(self) -> None:
        """The write is over: a slot it never used is given back."""
        if self._pending:
            self._pending = False
            for window in self._windows:
                window.give_back()


class JobPublisher:
    def __init__(self, bot: MjBot, progress_edit_seconds: float) -> None:
        self._bot = bot
        self._interval = progress_edit_seconds
        #: The latest unwritten state of each job.
        self._latest: dict[int, Job] = {}
        #: Jobs to (re)classify at the next pass: changed, or their write just ended. A pass
        #: classifies only these, not every waiting job.
        self._fresh: dict[int, None] = {}
        #: Budgeted writes waiting, per priority: per channel budget (a _bucket), the jobs that
        #: wait for it, oldest change first. A pass looks at each channel once, however many of
        #: its jobs wait; a channel it served goes behind the others, so channels take turns.
        self._waiting: tuple[dict[Bucket, dict[int, None]], ...] = ({}, {}, {})
        #: Where each waiting job is in ``_waiting``: (priority, bucket).
        self._queued: dict[int, tuple[int, Bucket]] = {}
        #: Progress edits waiting for their job's own pacing: (when due, job id), a heap.
        self._resting: list[tuple[float, int]] = []
        self._last_edit: dict[int, float] = {}
        self._busy: set[int] = set()
        self._global = _Window(GLOBAL_WRITES, GLOBAL_WINDOW)
        self._channels: defaultdict[Bucket, _Window] = defaultdict(
            lambda: _Window(CHANNEL_WRITES, CHANNEL_WINDOW)
        )
        #: What each job's message shows now, so repeats are not sent.
        self._shown: dict[int, str] = {}
        #: Interaction-owned job messages written since this process started (the first write
        #: replaces Discord's "thinking…" and goes through the interaction).
        self._filled: set[int] = set()
        #: The next pass, and when it runs (time.monotonic()): a loop callback, not a task
        #: waiting on an event, so a pass costs one timer and no task wake-ups.
        self._next_pass: asyncio.TimerHandle | None = None
        self._next_pass_at = math.inf
        self._last_pass = -math.inf
        self._stopped = True
        self._writes: set[asyncio.Task[None]] = set()

    def job_changed(self, job: Job) -> None:
        self._latest[job.id] = job
        # Re-inserting moves the job to the end: writes of a priority go oldest change first.
        self._fresh.pop(job.id, None)
        self._fresh[job.id] = None
        self._pass_soon()

    def start(self) -> None:
        self._stopped = False
        self._pass_soon()

    async def stop(self) -> None:
        self._stopped = True
        if self._next_pass is not None:
            self._next_pass.cancel()
            self._next_pass = None
        for task in list(self._writes):
            task.cancel()
        await asyncio.gather(*self._writes, return_exceptions=True)

    async def flush(self, timeout: float) -> None:  # noqa: ASYNC109 (a shutdown budget)
        """Wait (at most ``timeout``) until no final waits to be written and no write is under way."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self._writes or any(job.status.terminal for job in self._latest.values()):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)

    def _pass_soon(self) -> None:
        """Something changed: a pass serves it in the loop's next turn, or ``TICK`` after the
        last pass if that was sooner, with every other change until then. Serving it at once
        rather than a ``TICK`` later spares a quiet bot a wake-up of its own per pass: the pass
        runs while the push or write that caused it is still warm in the CPU's caches."""
        self._pass_at(time.monotonic())

    def _pass_at(self, at: float) -> None:
        """Have a pass run at ``at`` (time.monotonic()), or sooner if one is due sooner; never
        sooner than ``TICK`` after the last."""
        at = max(at, self._last_pass + TICK)
        if self._stopped or at >= self._next_pass_at:
            return
        if self._next_pass is not None:
            self._next_pass.cancel()
        self._next_pass_at = at
        self._next_pass = asyncio.get_running_loop().call_later(max(0.0, at - time.monotonic()), self._pass)

    def _pass(self) -> None:
        self._next_pass, self._next_pass_at = None, math.inf
        self._last_pass = time.monotonic()
        try:
            next_due = self._start_due_writes()
        except Exception:
            # A pass that failed must not stop the publisher: the next change or due write retries.
            log.exception("the publisher's pass failed")
            next_due = self._last_pass + 1.0
        if next_due is not None:
            self._pass_at(next_due)

    def _start_due_writes(self) -> float | None:
        """Start every write through an interaction, and every budgeted write the budgets allow,
        most urgent first; return when to look again (None: when something changes or a write
        completes)."""
        now = time.monotonic()
        self._classify(now)
        next_due: float | None = self._resting[0][0] if self._resting else None

        def later(at: float | None) -> None:
            nonlocal next_due
            if at is not None:
                next_due = at if next_due is None else min(next_due, at)

        budget = self._global.free(now)
        for queue in self._waiting:
            for bucket, jobs in list(queue.items()):
                if budget <= 0:
                    # Out of global budget: the rest waits for the next free slot.
                    later(self._global.free_at(now))
                    return next_due
                channel = self._channels[bucket]
                free = channel.free(now)
                if free <= 0:
                    later(channel.free_at(now))
                    continue
                del queue[bucket]
                while jobs and free > 0 and budget > 0:
                    job_id = next(iter(jobs))
                    del jobs[job_id], self._queued[job_id]
                    self._start(self._latest[job_id], _Slot(bucket, self._global, channel))
                    free -= 1
                    budget -= 1
                if jobs:
                    queue[bucket] = jobs  # behind the channels still waiting their turn
        return next_due

    def _classify(self, now: float) -> None:
        """Start the writes that go through an interaction; put the budgeted ones in their queue,
        or to rest until their job's progress pacing allows them."""
        while self._resting and self._resting[0][0] <= now:
            self._fresh.setdefault(heapq.heappop(self._resting)[1])
        wall = time.time()
        for job_id in self._fresh:
            self._unqueue(job_id)
            job = self._latest.get(job_id)
            if job is None or job_id in self._busy:
                continue  # written already, or being written: its write's end brings it back
            priority = self._priority(job)
            if (
                priority == PROGRESS
                and _may_look_unchanged(job)
                and self._shown.get(job_id) == _on_screen(job, job_content(job))
            ):
                # Nothing a member sees would change (queued → submitted): no write, so no budget
                # slot taken and no pacing restarted for it.
                del self._latest[job_id]
            elif priority != PROGRESS and _reply_usable(job, wall):
                self._start(job)
            elif priority == PROGRESS and (own := self._last_edit.get(job_id, 0.0) + self._interval) > now:
                heapq.heappush(self._resting, (own, job_id))
            else:
                bucket = _bucket(job)
                self._waiting[priority].setdefault(bucket, {})[job_id] = None
                self._queued[job_id] = (priority, bucket)
        self._fresh.clear()

    def _unqueue(self, job_id: int) -> None:
        """Take ``job_id`` out of the queue it waits in, if any."""
        where = self._queued.pop(job_id, None)
        if where is None:
            return
        priority, bucket = where
        jobs = self._waiting[priority][bucket]
        del jobs[job_id]
        if not jobs:
            del self._waiting[priority][bucket]

    def _start(self, job: Job, slot: _Slot | None = None) -> None:
        """Write ``job``'s message: through its interaction when ``slot`` is None, else through
        the channel, in the budgets ``slot`` was taken from."""
        del self._latest[job.id]
        self._busy.add(job.id)
        task = asyncio.create_task(self._write(job, slot))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, job: Job, slot: _Slot | None) -> None:
        written = True
        try:
            written = await self._publish(job, slot)
            pending = self._latest.get(job.id)
            if written and pending is not None:
                # A state that came during this write was read before it ended: the message it
                # posted, or the reply it forgot, decides that state's route and budget.
                stored = await self._bot.engine.get(job.id)
                if stored is not None and self._latest.get(job.id) is pending:
                    self._latest[job.id] = stored
        except Exception:
            log.exception("job %s: could not update its Discord message", job.id, extra=job_fields(job))
        finally:
            if slot is not None:
                slot.release()
            self._busy.discard(job.id)
            if written:
                self._last_edit[job.id] = time.monotonic()
            if job.status.terminal:
                self._last_edit.pop(job.id, None)
            # A newer state that came while this was written waits for this pass.
            self._fresh.setdefault(job.id)
            self._pass_soon()

    async def _publish(self, job: Job, slot: _Slot | None) -> bool:
        """Write ``job``'s message as the store has it: through its interaction when ``slot`` is
        None, else through the channel (``slot`` is stamped when the request leaves). False when
        nothing was written because the write needs another budget than ``slot``'s."""
        # The store is the truth: a newer state may have been written since this one was queued.
        stored = await self._bot.engine.get(job.id)
        if stored is None or (stored.status.terminal and stored.result_posted):
            return True
        if slot is not None and _bucket(stored) != slot.bucket:
            # The state it was queued by is older than its message: posted since (its id was
            # recorded after that state was made), or deleted. An edit must not spend a post's
            # budget, nor a post an edit's: it is queued again, for the budget it needs.
            self._latest[job.id] = stored
            return False
        job = stored
        content = job_content(job)
        upload: tuple[bytes, str] | None = None
        embed: discord.Embed | None = None
        if job.status is JobStatus.SUCCESS and job.image_url:
            video = job.media_type == "video"
            image = await self.download_result(job)
            if video and job.preview_url and image is None:
                # The file could not be fetched: its first frame stands in beside the link
                # (an uploaded video shows itself; the frame too would show it twice).
                embed = discord.Embed().set_image(url=job.preview_url)
            if image is not None:
                upload = (image, f"mjbot_{job.id}.{_extension(image) if video else 'png'}")
            else:
                content = job_content(job, link=job.image_url)
        elif job.status is JobStatus.IN_PROGRESS and job.image_url:
            embed = discord.Embed().set_image(url=job.image_url)
        embed = result_embed(job) or embed
        # A change that leaves what a member sees alone costs no edit (the pass drops most such
        # changes before they are queued; the store may have had one since).
        shown = _on_screen(job, content)
        before = self._shown.get(job.id)
        if job.message_id is not None and not job.status.terminal and before == shown:
            return True
        message = _Rendering(
            job=job,
            content=content,
            embed=embed,
            upload=upload,
            mentions=discord.AllowedMentions(
                everyone=False, roles=False, users=[discord.Object(job.owner_id)]
            ),
            # Every state before the final shows the same Cancel button.
            view_shown=before is not None and not job.status.terminal,
        )
        try:
            await self._deliver(job, slot, message)
        except Exception as exc:
            if not job.status.terminal:
                raise
            # A final Discord will not take (or the bot cannot render) must not leave the message
            # at its last progress: a short final says so, with the result's link.
            log.warning("job %s: Discord refused its final (%s); writing a short one", job.id, _why(exc))
            short = _Rendering(job, short_final(job), None, None, message.mentions, False, with_view=False)
            await self._deliver(job, slot, short)
        self._shown[job.id] = shown
        if job.status.terminal:
            await self._bot.engine.record_posted(job.id)
            self._bot.metrics.final_published(job.id)
            self._shown.pop(job.id, None)
            self._filled.discard(job.id)
        return True

    async def _deliver(self, job: Job, slot: _Slot | None, message: _Rendering) -> None:
        """Write ``message`` through the interaction when ``slot`` is None and the job has one,
        else (or when the token is refused) through the channel."""
        if slot is None and job.reply is not None:
            refused = await self._write_through_reply(job, job.reply, message)
            if refused is None:
                self._filled.add(job.id)
                return
            job = refused
        await self._write_through_channel(job, slot, message)

    async def _write_through_reply(self, job: Job, reply: Reply, message: _Rendering) -> Job | None:
        """Edit the interaction's own message. When Discord refused the token, the reply is
        forgotten and this returns ``job`` as the channel route must write it; any other refusal
        (a body Discord will not take) is raised, the token kept."""
        try:
            await self._webhook(reply).edit_message(
                reply.message_id,
                content=message.content,
                embed=message.embed,
                attachments=message.files(),
                view=message.edited_view,
                allowed_mentions=message.mentions,
            )
            return None
        except discord.HTTPException as exc:
            if _token_refused(exc):
                # Expired early, or revoked: the channel route still works.
                log.info(
                    "job %s: Discord refused its interaction token (%s); using the channel",
                    job.id,
                    exc.status,
                    extra=job_fields(job),
                )
                await self._bot.engine.forget_reply(job.id)
                return job.model_copy(update={"reply": None})
            if exc.status >= 500:
                # Discord's own trouble, after discord.py's retries: the channel route this time.
                return job.model_copy(update={"reply": None})
            if not isinstance(exc, discord.NotFound):
                raise
            # Somebody deleted the job message: a new one is posted in the channel.
            await self._bot.engine.forget_reply(job.id, message_gone=True)
            return job.model_copy(update={"message_id": None, "reply": None})

    async def _write_through_channel(self, job: Job, slot: _Slot | None, message: _Rendering) -> None:
        message_id = job.message_id
        if slot is not None:
            slot.send()
        if message_id is not None:
            # Through discord.py's HTTP client rather than Message.edit: nothing here uses the
            # Message that would be made from Discord's answer, and making one is a good part of
            # an edit's CPU.
            with handle_message_parameters(
                content=message.content,
                embed=message.embed,
                attachments=message.files(),
                view=message.edited_view,
                allowed_mentions=message.mentions,
                previous_allowed_mentions=self._bot.allowed_mentions,
            ) as params:
                try:
                    await self._bot.http.edit_message(job.channel_id, message_id, params=params)
                    return
                except discord.NotFound:
                    pass  # somebody deleted the job message: post it again
        channel = self._bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        posted = await channel.send(
            content=message.content,
            embed=message.embed if message.embed is not None else discord.utils.MISSING,
            files=message.files(),
            view=message.view if message.view is not None else discord.utils.MISSING,
            allowed_mentions=message.mentions,
            # A crash between this post and recording its id must not make a second message:
            # discord.py sends the nonce with enforce_nonce, so Discord hands back the first
            # one for a few minutes. A re-post after a deletion needs a new message, so no nonce.
            nonce=f"mjb{job.id}" if job.message_id is None else str(secrets.randbits(63)),
        )
        await self._bot.engine.record_message(job.id, posted.id)

    async def edit_view(self, job: Job, view: discord.ui.View) -> None:
        """Change only the buttons of ``job``'s message (a pressed button turns blurple)."""
        if job.message_id is None:
            return
        if _reply_usable(job, time.time()) and job.reply is not None:
            with contextlib.suppress(discord.HTTPException):
                await self._webhook(job.reply).edit_message(job.reply.message_id, view=view)
                return
        channel = self._bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        with contextlib.suppress(discord.NotFound):
            await channel.get_partial_message(job.message_id).edit(view=view)

    def _webhook(self, reply: Reply) -> discord.Webhook:
        """The webhook of the interaction whose response ``reply`` is (its id is the bot's)."""
        return discord.Webhook.partial(self._bot.application_id or 0, reply.token, client=self._bot)

    def _priority(self, job: Job) -> int:
        if job.status.terminal:
            return FINAL
        unfilled = job.reply is not None and job.id not in self._filled
        return POST if job.message_id is None or unfilled else PROGRESS

    async def download_result(self, job: Job) -> bytes | None:
        """The job's result file, when its URL is one the bot may fetch (the account's own service
        or Discord's/Midjourney's CDN: no requests to other hosts a backend names) and it fits."""
        if not job.image_url or not self._bot.engine.image_url_allowed(job, job.image_url):
            return None
        return await self._download(
            self._bot.engine.download_client(job),
            job.image_url,
            MAX_VIDEO_BYTES if job.media_type == "video" else MAX_UPLOAD_BYTES,
        )

    async def _download(self, http: httpx.AsyncClient, url: str, limit: int) -> bytes | None:
        try:
            return await read_capped(http, url, limit)
        except httpx.HTTPError as exc:
            log.warning("could not download a result image (%s); linking it instead", type(exc).__name__)
            return None


#: Discord's codes for an interaction token it no longer takes: Unknown Webhook, Invalid Webhook Token.
_TOKEN_CODES = frozenset({10015, 50027})


def _token_refused(exc: discord.HTTPException) -> bool:
    """Whether Discord refused the interaction's token itself (not the message or its body)."""
    return exc.status == 401 or exc.code in _TOKEN_CODES


def _why(exc: Exception) -> str:
    if isinstance(exc, discord.HTTPException):
        return f"HTTP {exc.status}, code {exc.code}"
    return type(exc).__name__


def _extension(video: bytes) -> str:
    """A video file's extension from its first bytes (the service's URLs do not always say)."""
    if video.startswith(b"GIF8"):
        return "gif"
    if video.startswith(b"\x1aE\xdf\xa3"):
        return "webm"
    return "mp4"


def _on_screen(job: Job, content: str) -> str:
    """What a member sees of a running job's message: its text and its preview (its only button
    is Cancel), with ``content`` its text (``job_content``)."""
    preview = job.image_url if job.status is JobStatus.IN_PROGRESS else None
    return f"{content}|{preview}"


def _may_look_unchanged(job: Job) -> bool:
    """Whether a change that brought ``job`` here may have left its message as it was. Only a
    waiting job's can: the engine drops a running job's changes that move neither its progress
    nor its preview, so checking those (a rendering each) would be wasted."""
    return job.status is not JobStatus.IN_PROGRESS


def _reply_usable(job: Job, now: float) -> bool:
    """Whether ``job``'s message can still be written through its interaction's token."""
    reply = job.reply
    return reply is not None and reply.message_id == job.message_id and now < reply.expires - REPLY_MARGIN


def _bucket(job: Job) -> Bucket:
    return (job.channel_id, "post" if job.message_id is None else "edit")
