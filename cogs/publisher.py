"""The one place that posts and edits job messages.

The engine reports every job change here (:meth:`JobPublisher.job_changed`, never blocking). Only
the latest state of each job is kept, so a burst of progress updates becomes one edit, and an
update that would not change what the message shows is dropped. Discord allows about 5 posts and
5 edits per 5 s per channel (two buckets): the publisher paces itself under that, keeping the last
edit slot of each window for finals, so progress edits never delay a result. Progress edits of one
job are also at least ``progress_edit_seconds`` apart. One message is written at a time per job, so
edits never overtake each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections import defaultdict, deque
from typing import TYPE_CHECKING

import discord
import httpx

from bot.domain import Job, JobStatus
from cogs.render import job_content, job_view, result_embed

if TYPE_CHECKING:
    from bot.app import MjBot

log = logging.getLogger(__name__)

#: Largest result image the bot re-uploads; above it the message links to the image instead.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
#: Largest video re-uploaded (Discord's upload limit for servers without boosts); above it, a link.
MAX_VIDEO_BYTES = 8 * 1024 * 1024
#: Discord's per-channel budget for each of posts and edits (observed: 5 per 5 s).
CHANNEL_WRITES = 5
CHANNEL_WINDOW = 5.0


class JobPublisher:
    def __init__(self, bot: MjBot, http: httpx.AsyncClient, progress_edit_seconds: float) -> None:
        self._bot = bot
        self._http = http
        self._interval = progress_edit_seconds
        self._latest: dict[int, Job] = {}
        self._last_edit: dict[int, float] = {}
        self._busy: set[int] = set()
        #: When recent writes started, per (channel, "post" | "edit"), for pacing.
        self._channel_writes: defaultdict[tuple[int, str], deque[float]] = defaultdict(deque)
        #: What each job's message shows now, so repeats are not sent.
        self._shown: dict[int, str] = {}
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()

    def job_changed(self, job: Job) -> None:
        self._latest[job.id] = job
        self._wake.set()

    def start(self) -> None:
        self._worker = asyncio.create_task(self._run(), name="mjbot-publisher")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for task in list(self._writes):
            task.cancel()
        await asyncio.gather(*self._writes, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            next_due = self._start_due_writes()
            timeout = None if next_due is None else max(0.0, next_due - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _start_due_writes(self) -> float | None:
        """Start every write that is due; return when the next waiting one falls due."""
        now = time.monotonic()
        next_due: float | None = None
        for job_id, job in list(self._latest.items()):
            if job_id in self._busy:
                continue
            due = self._due_at(job)
            if due > now:
                next_due = due if next_due is None else min(next_due, due)
                continue
            del self._latest[job_id]
            self._busy.add(job_id)
            self._channel_writes[_bucket(job)].append(now)
            task = asyncio.create_task(self._write(job))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)
        return next_due

    def _due_at(self, job: Job) -> float:
        urgent = job.message_id is None or job.status.terminal
        own = 0.0 if urgent else self._last_edit.get(job.id, 0.0) + self._interval
        return max(own, self._channel_free_at(_bucket(job), reserve=0 if urgent else 1))

    def _channel_free_at(self, bucket: tuple[int, str], reserve: int) -> float:
        """When the bucket has a slot left, keeping ``reserve`` slots for urgent writes."""
        writes = self._channel_writes[bucket]
        horizon = time.monotonic() - CHANNEL_WINDOW
        while writes and writes[0] <= horizon:
            writes.popleft()
        allowed = CHANNEL_WRITES - reserve
        if len(writes) < allowed:
            return 0.0
        return writes[len(writes) - allowed] + CHANNEL_WINDOW

    async def _write(self, job: Job) -> None:
        try:
            await self._publish(job)
        except Exception:
            log.exception("job %s: could not update its Discord message", job.id)
        finally:
            self._busy.discard(job.id)
            self._last_edit[job.id] = time.monotonic()
            if job.status.terminal:
                self._last_edit.pop(job.id, None)
            self._wake.set()

    async def _publish(self, job: Job) -> None:
        # The store is the truth: a newer state may have been written since this one was queued.
        stored = await self._bot.engine.get(job.id)
        if stored is None or (stored.status.terminal and stored.result_posted):
            return
        job = stored
        channel = self._bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        mentions = discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(job.owner_id)])
        content = job_content(job)
        files: list[discord.File] = []
        embed: discord.Embed | None = None
        if job.status is JobStatus.SUCCESS and job.image_url:
            video = job.media_type == "video"
            image = await self._download(job.image_url, MAX_VIDEO_BYTES if video else MAX_UPLOAD_BYTES)
            if video and job.preview_url:
                embed = discord.Embed().set_image(url=job.preview_url)  # the first frame
            if image is not None:
                filename = f"mjbot_{job.id}.{_extension(image) if video else 'png'}"
                files.append(discord.File(io.BytesIO(image), filename=filename))
            else:
                content += f"\n{job.image_url}"
        elif job.status is JobStatus.IN_PROGRESS and job.image_url:
            embed = discord.Embed().set_image(url=job.image_url)
        embed = result_embed(job) or embed
        view = job_view(job)
        shown = f"{content}|{embed and job.image_url}|{job.status.value}"
        if job.message_id is not None and not job.status.terminal and self._shown.get(job.id) == shown:
            return
        self._shown[job.id] = shown

        message_id = job.message_id
        if message_id is not None:
            try:
                await channel.get_partial_message(message_id).edit(
                    content=content,
                    embed=embed,
                    attachments=files,
                    view=view,
                    allowed_mentions=mentions,
                )
            except discord.NotFound:
                message_id = None  # somebody deleted the job message: post it again
        if message_id is None:
            message = await channel.send(
                content=content,
                embed=embed if embed is not None else discord.utils.MISSING,
                files=files,
                view=view if view is not None else discord.utils.MISSING,
                allowed_mentions=mentions,
            )
            await self._bot.engine.record_message(job.id, message.id)
        if job.status.terminal:
            await self._bot.engine.record_posted(job.id)
            self._shown.pop(job.id, None)

    async def _download(self, url: str, limit: int = MAX_UPLOAD_BYTES) -> bytes | None:
        try:
            async with self._http.stream("GET", url) as response:
                response.raise_for_status()
                chunks = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        return None
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            log.warning("could not download a result image (%s); linking it instead", type(exc).__name__)
            return None


def _extension(video: bytes) -> str:
    """A video file's extension from its first bytes (the service's URLs do not always say)."""
    if video.startswith(b"GIF8"):
        return "gif"
    if video.startswith(b"\x1aE\xdf\xa3"):
        return "webm"
    return "mp4"


def _bucket(job: Job) -> tuple[int, str]:
    return (job.channel_id, "post" if job.message_id is None else "edit")
