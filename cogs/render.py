"""How a job looks on Discord: the message content and the rows of result buttons."""

from __future__ import annotations

import re

import discord

from bot.domain import ERROR_SENTENCES, ButtonStyle, Job, JobKind, JobStatus, ResultButton
from cogs.buttons import ResultButtonItem

#: Room left for the prompt once the rest of a job message is written (Discord allows 2000).
MAX_PROMPT_SHOWN = 1500
ROW_WIDTH = 5
MAX_ROWS = 5

_STYLES = {
    ButtonStyle.PRIMARY: discord.ButtonStyle.primary,
    ButtonStyle.SECONDARY: discord.ButtonStyle.secondary,
    ButtonStyle.SUCCESS: discord.ButtonStyle.success,
    ButtonStyle.DANGER: discord.ButtonStyle.danger,
}
_INDEX = re.compile(r"::(\d)::")


def shown_prompt(prompt: str) -> str:
    text = discord.utils.escape_mentions(discord.utils.escape_markdown(prompt))
    return text if len(text) <= MAX_PROMPT_SHOWN else text[: MAX_PROMPT_SHOWN - 1] + "…"


def _what(job: Job) -> str:
    """The words Midjourney puts after the prompt for a follow-up job."""
    index = _INDEX.search(job.action_custom_id or "")
    number = f" #{index.group(1)}" if index else ""
    return {
        JobKind.UPSCALE: f"Image{number} ",
        JobKind.VARIATION: f"Variations{number} by ",
        JobKind.ZOOM: "Zoom Out by ",
        JobKind.PAN: "Pan by ",
    }.get(job.kind, "")


def job_content(job: Job, queue_position: int | None = None) -> str:
    head = f"**{shown_prompt(job.prompt)}** - {_what(job)}<@{job.owner_id}>"
    if job.status is JobStatus.QUEUED:
        where = f", position {queue_position} in the queue" if queue_position else ""
        return f"{head} (Waiting to start{where})"
    if job.status is JobStatus.SUBMITTED:
        return f"{head} (Waiting to start)"
    if job.status is JobStatus.IN_PROGRESS:
        return f"{head} ({job.progress or 0}%)"
    if job.status is JobStatus.SUCCESS:
        return head
    if job.status is JobStatus.CANCELLED:
        return f"{head} (Cancelled)"
    sentence = (
        ERROR_SENTENCES[job.error_kind] if job.error_kind else "The image service could not finish this job."
    )
    detail = f"\n> {discord.utils.escape_mentions(job.error_detail[:300])}" if job.error_detail else ""
    return f"{head} (Failed)\n❌ {sentence}{detail}"


def result_view(job: Job, pressed: int | None = None) -> discord.ui.View | None:
    """The finished job's buttons, in the backend's order, 5 to a row (U1–U4 🔄 / V1–V4)."""
    if job.status is not JobStatus.SUCCESS or not job.buttons:
        return None
    view = discord.ui.View(timeout=None)
    for index, button in enumerate(job.buttons[: ROW_WIDTH * MAX_ROWS]):
        style = discord.ButtonStyle.primary if index == pressed else _STYLES[button.style]
        view.add_item(
            ResultButtonItem(job.id, index, label=_label(button), emoji=button.emoji or None, style=style)
        )
    return view


def _label(button: ResultButton) -> str | None:
    if button.label:
        return button.label[:80]
    # Discord needs a label or an emoji; a backend button with neither still gets a name.
    return None if button.emoji else button.kind.value.title()
