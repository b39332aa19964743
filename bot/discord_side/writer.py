"""How a job's message is written: its content, embed, file and buttons assembled from the job as
the store has it, then sent by one of two routes.

* **the interaction's webhook** (``/webhooks/{application}/{token}/messages/{id}``), when the job's
  message is the response of the interaction that started it (:class:`bot.domain.Reply`, see
  ``bot/discord_side/replies.py``) and its token lives (15 minutes). Discord keeps these writes
  outside the global budget and the channel edit limit, so the writes a member waits for, the
  message's first content and the final result, go this way at once, whatever else is queued;
* **the channel** (``/channels/{id}/messages``), for every progress edit and for messages no live
  interaction owns (after 15 minutes, "Imagine all"'s extra jobs). These spend the bot's rate
  budget (``bot/discord_side/budgets.py``): the publisher hands each one a slot of it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import secrets
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import discord
import httpx
from discord.http import handle_message_parameters
from discord.utils import MISSING

from bot.discord_side.budgets import Slot, bucket
from bot.discord_side.host import Host
from bot.discord_side.language import server_locale
from bot.discord_side.render import job_content, job_view, result_embed, short_final
from bot.domain import Job, JobStatus, Reply
from bot.http_client import read_capped
from bot.logs import job_fields

log = logging.getLogger(__name__)

#: Largest result image the bot re-uploads; above it the message links to the image instead.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
#: Most files a Discord message carries.
MAX_FILES = 10
#: Largest video re-uploaded (Discord's upload limit for servers without boosts); above it, a link.
MAX_VIDEO_BYTES = 8 * 1024 * 1024
#: An interaction token this close to its expiry is not used (a write may take this long).
REPLY_MARGIN = 60.0


@dataclass
class _Rendering:
    """What a job's message is to show, ready for either route."""

    job: Job
    content: str
    embed: discord.Embed | None
    #: The result file (bytes, filename), attached anew on each request.
    uploads: list[tuple[bytes, str]]
    mentions: discord.AllowedMentions
    #: The message already shows this view (a running job's Cancel button): an edit leaves it.
    view_shown: bool
    #: The server's language (None: English).
    locale: str | None = None
    #: False for a short final: text only, no buttons.
    with_view: bool = True

    @cached_property
    def view(self) -> discord.ui.View | None:
        return job_view(self.job, locale=self.locale) if self.with_view else None

    @property
    def edited_view(self) -> Any:
        """The ``view`` of an edit: MISSING leaves the message's buttons as they are."""
        return MISSING if self.view_shown else self.view

    def files(self) -> list[discord.File]:
        # A discord.File is closed once sent, so a second route needs a fresh one.
        return [discord.File(io.BytesIO(data), filename=name) for data, name in self.uploads]


class MessageWriter:
    """Writes job messages for the publisher, one write per job at a time, and remembers what each
    message shows."""

    def __init__(self, bot: Host) -> None:
        self._bot = bot
        #: What each job's message shows now, so repeats are not sent.
        self._shown: dict[int, str] = {}
        #: Interaction-owned job messages written since this process started (the first write
        #: replaces Discord's "thinking…" and goes through the interaction).
        self._filled: set[int] = set()

    def shows(self, job: Job) -> bool:
        """Whether ``job``'s message shows already what ``job`` would."""
        return self._shown.get(job.id) == _on_screen(job, job_content(job, locale=self._locale(job)))

    def filled(self, job_id: int) -> bool:
        """Whether the job's interaction-owned message was written since this process started."""
        return job_id in self._filled

    async def publish(self, job: Job, slot: Slot | None) -> Job | None:
        """Write ``job``'s message as the store has it: through its interaction when ``slot`` is
        None, else through the channel (``slot`` is stamped when the request leaves). Nothing
        written because the write needs another budget than ``slot``'s: the stored job, to queue
        again; else None."""
        # The store is the truth: a newer state may have been written since this one was queued.
        stored = await self._bot.engine.get(job.id)
        if stored is None or (stored.status.terminal and stored.result_posted):
            return None
        if slot is not None and bucket(stored) != slot.bucket:
            # The state it was queued by is older than its message: posted since (its id was
            # recorded after that state was made), or deleted. An edit must not spend a post's
            # budget, nor a post an edit's: it is queued again, for the budget it needs.
            return stored
        job = stored
        locale = self._locale(job)
        content = job_content(job, locale=locale)
        uploads: list[tuple[bytes, str]] = []
        embed: discord.Embed | None = None
        if job.status is JobStatus.SUCCESS and job.image_url:
            video = job.media_type == "video"
            image = await self.download_result(job)
            if video and job.preview_url and image is None:
                # The file could not be fetched: its first frame stands in beside the link
                # (an uploaded video shows itself; the frame too would show it twice).
                embed = discord.Embed().set_image(url=job.preview_url)
            if image is not None:
                uploads = [(image, f"mjbot_{job.id}.{_extension(image) if video else 'png'}")]
                uploads += await self._rest_of_batch(job)
            else:
                content = job_content(job, link=job.image_url, locale=locale)
        elif job.status is JobStatus.IN_PROGRESS and job.image_url:
            embed = discord.Embed().set_image(url=job.image_url)
        embed = result_embed(job, locale) or embed
        # A change that leaves what a member sees alone costs no edit (the pass drops most such
        # changes before they are queued; the store may have had one since).
        shown = _on_screen(job, content)
        before = self._shown.get(job.id)
        if job.message_id is not None and not job.status.terminal and before == shown:
            return None
        message = _Rendering(
            job=job,
            content=content,
            embed=embed,
            uploads=uploads,
            mentions=discord.AllowedMentions(
                everyone=False, roles=False, users=[discord.Object(job.owner_id)]
            ),
            # Every state before the final shows the same Cancel button.
            view_shown=before is not None and not job.status.terminal,
            locale=locale,
        )
        try:
            await self._deliver(job, slot, message)
        except Exception as exc:
            if not job.status.terminal:
                raise
            # A final Discord will not take (or the bot cannot render) must not leave the message
            # at its last progress: a short final says so, with the result's link.
            log.warning("job %s: Discord refused its final (%s); writing a short one", job.id, _why(exc))
            short = _Rendering(
                job, short_final(job, locale), None, [], message.mentions, False, locale, with_view=False
            )
            await self._deliver(job, slot, short)
        self._shown[job.id] = shown
        if job.status.terminal:
            await self._bot.store.update_job(job.id, result_posted=True)
            self._bot.metrics.final_published(job.id)
            self._shown.pop(job.id, None)
            self._filled.discard(job.id)
        return None

    def _locale(self, job: Job) -> str | None:
        """The language of ``job``'s message: the whole channel reads it, so its server's."""
        return server_locale(self._bot, job.guild_id)

    async def _deliver(self, job: Job, slot: Slot | None, message: _Rendering) -> None:
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
                await self._bot.store.update_job(job.id, reply_token=None)
                return job.model_copy(update={"reply": None})
            if exc.status >= 500:
                # Discord's own trouble, after discord.py's retries: the channel route this time.
                return job.model_copy(update={"reply": None})
            if not isinstance(exc, discord.NotFound):
                raise
            # Somebody deleted the job message: a new one is posted in the channel.
            await self._bot.store.update_job(job.id, reply_token=None, message_id=None)
            return job.model_copy(update={"message_id": None, "reply": None})

    async def _write_through_channel(self, job: Job, slot: Slot | None, message: _Rendering) -> None:
        try:
            await self._channel_write(job, message)
        finally:
            if slot is not None:
                # Counted from its answer, whatever it was: Discord counted the write when it
                # arrived, which is no later than that (docs/performance.md).
                slot.send()

    async def _channel_write(self, job: Job, message: _Rendering) -> None:
        message_id = job.message_id
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
        await self._bot.store.update_job(job.id, message_id=posted.id)

    async def edit_view(self, job: Job, view: discord.ui.View) -> None:
        """Change only the buttons of ``job``'s message (a pressed button turns blurple)."""
        if job.message_id is None:
            return
        if reply_usable(job, time.time()) and job.reply is not None:
            with contextlib.suppress(discord.HTTPException):
                await self._webhook(job.reply).edit_message(job.reply.message_id, view=view)
                return
        channel = self._bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        with contextlib.suppress(discord.NotFound):
            await channel.get_partial_message(job.message_id).edit(view=view)

    def _webhook(self, reply: Reply) -> discord.Webhook:
        """The webhook of the interaction whose response ``reply`` is (its id is the bot's)."""
        return discord.Webhook.partial(self._bot.application_id or 0, reply.token, client=self._bot)

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

    async def _rest_of_batch(self, job: Job) -> list[tuple[bytes, str]]:
        """A batch result's other images (those the bot may fetch and that fit), in order."""
        files = []
        for number, url in enumerate(job.result_urls[1:MAX_FILES], start=2):
            if not self._bot.engine.image_url_allowed(job, url):
                continue
            data = await self._download(self._bot.engine.download_client(job), url, MAX_UPLOAD_BYTES)
            if data is not None:
                files.append((data, f"mjbot_{job.id}_{number}.png"))
        return files

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


def reply_usable(job: Job, now: float) -> bool:
    """Whether ``job``'s message can still be written through its interaction's token."""
    reply = job.reply
    return reply is not None and reply.message_id == job.message_id and now < reply.expires - REPLY_MARGIN
