"""How a job looks on Discord: the message content, an embed for text results, the buttons."""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.discord_side import custom_ids
from bot.domain import ERROR_SENTENCES, ButtonStyle, ErrorKind, Job, JobKind, JobStatus, ResultButton
from bot.i18n import render, tr
from bot.jobs.tracking import remix_dropped

#: Discord's limit on a message's content.
MAX_CONTENT = 2000
#: Room left for the prompt once the rest of a job message is written.
MAX_PROMPT_SHOWN = 1500
#: The prompt shown never shrinks below this to make room for a link (the link goes instead).
MIN_PROMPT_SHOWN = 200
ROW_WIDTH = 5
MAX_ROWS = 5

_STYLES = {
    ButtonStyle.PRIMARY: discord.ButtonStyle.primary,
    ButtonStyle.SECONDARY: discord.ButtonStyle.secondary,
    ButtonStyle.SUCCESS: discord.ButtonStyle.success,
    ButtonStyle.DANGER: discord.ButtonStyle.danger,
}
#: The image number in a follow-up's button id: midjourney-proxy's "MJ::JOB::upsample::2::…" or
#: the plain labels ("U2", "V1") TheNextLeg and useapi use as ids.
_INDEX = re.compile(r"::(\d)::|^[UV](\d)$")
_TITLES = {JobKind.BLEND: "/blend", JobKind.DESCRIBE: "/describe", JobKind.SHORTEN: "/shorten"}


def shown_prompt(prompt: str, limit: int = MAX_PROMPT_SHOWN) -> str:
    text = discord.utils.escape_mentions(discord.utils.escape_markdown(prompt))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _by(job: Job) -> str:
    """The words Midjourney puts after the prompt: who asked, and for a follow-up job what it is."""
    index = _INDEX.search(job.action_custom_id or "")
    number = (index.group(1) or index.group(2)) if index else None
    owner = job.owner_id
    if job.kind is JobKind.UPSCALE:
        return (
            tr("Image #{number} <@{owner}>", number=number, owner=owner)
            if number
            else tr("Image <@{owner}>", owner=owner)
        )
    if job.kind is JobKind.VARIATION and number:
        return tr("Variations #{number} by <@{owner}>", number=number, owner=owner)
    if job.kind is JobKind.VARIATION:
        return tr("Variations by <@{owner}>", owner=owner)
    if job.kind is JobKind.ZOOM:
        return tr("Zoom Out by <@{owner}>", owner=owner)
    if job.kind is JobKind.PAN:
        return tr("Pan by <@{owner}>", owner=owner)
    return f"<@{owner}>"


def job_content(job: Job, link: str | None = None, locale: str | None = None) -> str:
    """The message's text in ``locale`` (the server's; None: English), within Discord's 2000
    characters. ``link`` (a result the bot could not upload) goes on a line of its own, whole: the
    prompt shrinks for it, or it is left out."""
    content = _content(job, MAX_PROMPT_SHOWN, locale)
    if link:
        over = len(content) + 1 + len(link) - MAX_CONTENT
        if over > 0:
            content = _content(job, max(MIN_PROMPT_SHOWN, MAX_PROMPT_SHOWN - over), locale)
        if len(content) + 1 + len(link) <= MAX_CONTENT:
            return f"{content}\n{link}"
    return content if len(content) <= MAX_CONTENT else content[: MAX_CONTENT - 1] + "…"


def short_final(job: Job, locale: str | None = None) -> str:
    """A finished job's text when Discord refused its full final: what happened, with the link."""
    if job.status is not JobStatus.SUCCESS:
        return _content(job, MIN_PROMPT_SHOWN, locale)
    link = job.image_url if job.image_url and job.image_url.startswith(("https://", "http://")) else None
    head = _head(job, MIN_PROMPT_SHOWN, locale)
    said = (
        tr("{head} (Done, but the result could not be shown here: open the link below.)", head=head)
        if link
        else tr("{head} (Done, but the result could not be shown here: run the job again.)", head=head)
    )
    text = render(said, locale)
    return f"{text}\n{link}" if link and len(text) + 1 + len(link) <= MAX_CONTENT else text


def _head(job: Job, prompt_room: int, locale: str | None) -> str:
    prompt = shown_prompt(job.prompt, prompt_room)
    title = _TITLES.get(job.kind)
    shown = f"{title} {prompt}" if title else prompt
    return f"**{shown.strip()}** - {render(_by(job), locale)}"


def _content(job: Job, prompt_room: int, locale: str | None) -> str:
    return render(_status(job, _head(job, prompt_room, locale)), locale)


def _status(job: Job, head: str) -> str:
    """The message's text: ``head`` and what the job is doing (a `Msg` but for the progress)."""
    if job.status is JobStatus.QUEUED and job.error_kind is ErrorKind.QUEUE_FULL:
        return tr("{head} (Waiting to start: the image service is busy, the bot will retry)", head=head)
    if job.status in (JobStatus.QUEUED, JobStatus.SUBMITTED) and job.queue_position:
        if job.queue_length:
            return tr(
                "{head} (Waiting to start: position {position} of {length} in the queue)",
                head=head,
                position=job.queue_position,
                length=job.queue_length,
            )
        return tr(
            "{head} (Waiting to start: position {position} in the queue)",
            head=head,
            position=job.queue_position,
        )
    if job.status in (JobStatus.QUEUED, JobStatus.SUBMITTED, JobStatus.MODAL):
        return tr("{head} (Waiting to start)", head=head)
    if job.status is JobStatus.IN_PROGRESS:
        return f"{head} ({job.progress or 0}%)"
    if job.status is JobStatus.SUCCESS and remix_dropped(job):
        return tr(
            "{head}\n-# Remix is off on this service's account, so your edited prompt was not used.",
            head=head,
        )
    if job.status is JobStatus.SUCCESS and job.ignored_words:
        ignored = discord.utils.escape_markdown(", ".join(job.ignored_words))[:300]
        return tr("{head}\n-# Ignored by the image service: {words}", head=head, words=ignored)
    if job.status is JobStatus.SUCCESS and not (job.image_url or job.result_text):
        # A button the service acted on without making an image (midjourney-proxy's ❤️), or one
        # whose image another job already follows (the same upscale asked twice).
        return tr("{head} (Done: the image service made no new image for this)", head=head)
    if job.status is JobStatus.SUCCESS:
        return head
    if job.status is JobStatus.CANCELLED:
        return tr("{head} (Cancelled)", head=head)
    sentence = (
        ERROR_SENTENCES[job.error_kind]
        if job.error_kind
        else tr("The image service could not finish this job.")
    )
    # The stored reason is shown as the service or the engine wrote it (docs/i18n.md).
    if job.error_detail:
        detail = discord.utils.escape_mentions(job.error_detail[:300])
        return tr("{head} (Failed)\n❌ {sentence}\n> {detail}", head=head, sentence=sentence, detail=detail)
    return tr("{head} (Failed)\n❌ {sentence}", head=head, sentence=sentence)


def result_embed(job: Job, locale: str | None = None) -> discord.Embed | None:
    """The text result of /describe (four prompts) and /shorten (tokens and shorter prompts)."""
    if job.status is not JobStatus.SUCCESS or not job.result_text:
        return None
    title = tr("Pick a prompt to imagine") if job.kind is JobKind.DESCRIBE else tr("Shortened prompts")
    return discord.Embed(title=render(title, locale), description=job.result_text[:4096])


def job_view(job: Job, pressed: int | None = None, locale: str | None = None) -> discord.ui.View | None:
    """Cancel (in ``locale``, the server's) while the job runs; its result buttons once done, as
    the service names them, 5 to a row (U1–U4 🔄 / V1–V4)."""
    view = discord.ui.View(timeout=None)
    # Only the buttons' layout: their clicks go to the DynamicItems the cogs register once, so
    # discord.py must not keep the view for the message it is sent with.
    view.stop()
    if not job.status.terminal:
        view.add_item(cancel_button(job.id, locale))
        return view
    if job.status is not JobStatus.SUCCESS or not job.buttons:
        return None
    link = job.kind is JobKind.UPSCALE and bool(
        job.image_url and job.image_url.startswith(("https://", "http://"))
    )
    reserved = 1 if link else 0
    # The backend's last buttons make way for the link when they would not all fit.
    shown = job.buttons[: ROW_WIDTH * MAX_ROWS - reserved]
    rows = _rows(shown, reserved)
    for index, button in enumerate(shown):
        style = discord.ButtonStyle.primary if index == pressed else _STYLES[button.style]
        item = discord.ui.Button[Any](
            label=_label(button),
            emoji=button.emoji or None,
            style=style,
            custom_id=custom_ids.result(job.id, index),
            row=rows[index],
        )
        view.add_item(item)
    if link and job.image_url:
        view.add_item(discord.ui.Button(label="Web", emoji="🌐", url=job.image_url[:512], row=rows[-1]))
    return view


def cancel_button(job_id: int, locale: str | None = None) -> discord.ui.Button[Any]:
    """The job message's Cancel, in ``locale`` (the server's: the whole channel reads it)."""
    custom_id = custom_ids.cancel(job_id)
    label = render(tr("Cancel"), locale)
    return discord.ui.Button(label=label, style=discord.ButtonStyle.danger, custom_id=custom_id)


def _rows(buttons: list[ResultButton], reserved: int) -> list[int]:
    """A row for each button (and one more for ``reserved`` extra buttons at the end).

    The backend's rows when it gives them and they fit Discord's 5×5, else 5 to a row in order.
    """
    given = [b.row for b in buttons]
    if given and None not in given:
        order = list(dict.fromkeys(given))
        counts = [given.count(r) for r in order]
        counts[-1] += reserved
        if len(order) <= MAX_ROWS and max(counts) <= ROW_WIDTH:
            rows = [order.index(r) for r in given if r is not None]
            return [*rows, len(order) - 1]
    rows = [i // ROW_WIDTH for i in range(len(buttons) + reserved)]
    return rows if rows else [0]


def _label(button: ResultButton) -> str | None:
    if button.label:
        return button.label[:80]
    # Discord needs a label or an emoji; a backend button with neither still gets a name.
    return None if button.emoji else button.kind.value.title()
