"""Modals that collect what an action needs before the backend runs it (Custom Zoom, Vary (Region)).

A modal is opened as the first response to the button click (Discord refuses it after a defer);
its submit acknowledges at once, then starts the job through the same engine call as a button.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord

from bot.discord_side.access import JobModal, clicked_channel
from bot.discord_side.language import member_locale, tell
from bot.discord_side.replies import defer_job_message, refuse
from bot.domain import Job, Reply
from bot.i18n import render, said, tr
from bot.jobs.calls import UserError
from bot.jobs.clicks import Form
from bot.jobs.masks import REGION_NAMES, fetch_parent, region_mask
from cogs.aimg.generation import SettingsModal

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot

_ZOOM_FLAG = re.compile(r"\s*--zoom\s+\S+", re.IGNORECASE)
_AR_FLAG = re.compile(r"--(?:ar|aspect)\s", re.IGNORECASE)


_REGION_LABELS = {
    "left": tr("Left"),
    "right": tr("Right"),
    "top": tr("Top"),
    "bottom": tr("Bottom"),
    "centre": tr("Centre"),
    "border": tr("Border"),
}


def modal_for(form: Form, job: Job, index: int, interaction: discord.Interaction[Any]) -> discord.ui.Modal:
    """The modal that asks what button ``index`` of ``job`` needs (see JobEngine.click), in the
    language of the member who clicked (``interaction``'s)."""
    return _FORMS[form](job, index, member_locale(interaction))


def _prompt_input(job: Job, locale: str) -> discord.ui.TextInput[Any]:
    return discord.ui.TextInput(
        label=render(tr("Prompt"), locale),
        style=discord.TextStyle.paragraph,
        default=job.prompt[:4000],
        max_length=4000,
    )


class RemixModal(JobModal):
    def __init__(self, job: Job, index: int, locale: str) -> None:
        super().__init__(job, index, render(tr("Remix Prompt"), locale))
        self.prompt = _prompt_input(job, locale)
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        reply = await defer_job_message(interaction)
        await _press(interaction, reply, self.job, self.index, prompt=self.prompt.value, remix=True)


class ZoomModal(JobModal):
    def __init__(self, job: Job, index: int, locale: str) -> None:
        super().__init__(job, index, render(tr("Zoom Out"), locale))
        self.prompt = _prompt_input(job, locale)
        self.zoom: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label=render(tr("Zoom (1 to 2)"), locale), default="1.5", max_length=4
        )
        self.add_item(self.prompt)
        self.add_item(self.zoom)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        try:
            zoom = float(self.zoom.value.replace(",", "."))
        except ValueError:
            zoom = 0.0
        if not 1.0 <= zoom <= 2.0:
            await tell(
                interaction,
                tr(
                    "Zoom must be a number from 1 to 2 (you gave {value!r}). Click Custom Zoom again.",
                    value=self.zoom.value,
                ),
            )
            return
        reply = await defer_job_message(interaction)
        prompt = _ZOOM_FLAG.sub("", self.prompt.value).strip()
        if not _AR_FLAG.search(prompt):
            prompt += " --ar 1:1"  # the proxy needs an aspect ratio with --zoom
        await _press(interaction, reply, self.job, self.index, prompt=f"{prompt} --zoom {zoom:g}")


class RegionModal(JobModal):
    # Vary (Region) is Midjourney's own name for the button that opens this modal.
    def __init__(self, job: Job, index: int, locale: str) -> None:
        super().__init__(job, index, "Vary (Region)")
        self.prompt = _prompt_input(job, locale)
        self.region: discord.ui.Select[Any] = discord.ui.Select(
            options=[
                discord.SelectOption(label=render(_REGION_LABELS[name], locale), value=name)
                for name in REGION_NAMES
            ],
            min_values=1,
            max_values=1,
        )
        self.add_item(self.prompt)
        self.add_item(
            discord.ui.Label(
                text=render(tr("Region to repaint"), locale),
                # Discord has no drawing in modals; the bot's own page does (docs/mask-editor.md).
                description=render(
                    tr("To draw the region instead, an admin sets the bot's [web] public_url."), locale
                ),
                component=self.region,
            )
        )

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        reply = await defer_job_message(interaction)
        bot: MjBot = interaction.client
        try:
            size = (await fetch_parent(bot.engine, self.job)).size
        except UserError as exc:
            await refuse(interaction, said(exc))
            return
        mask = await asyncio.to_thread(region_mask, size, self.region.values[0])
        await _press(interaction, reply, self.job, self.index, prompt=self.prompt.value, mask_png=mask)


_FORMS: dict[Form, Callable[[Job, int, str], JobModal]] = {
    Form.ZOOM: ZoomModal,
    Form.REGION: RegionModal,
    Form.SETTINGS: SettingsModal,
    Form.REMIX: RemixModal,
}


async def _press(
    interaction: discord.Interaction[Any],
    reply: Reply,
    job: Job,
    index: int,
    *,
    prompt: str,
    mask_png: bytes | None = None,
    remix: bool = False,
) -> None:
    bot: MjBot = interaction.client
    try:
        await bot.engine.press(
            job,
            index,
            user_id=interaction.user.id,
            channel_id=clicked_channel(interaction),
            prompt=prompt,
            mask_png=mask_png,
            remix=remix,
            reply=reply,
        )
    except UserError as exc:
        await refuse(interaction, said(exc))
