"""The checked start of an AIMG generation, shared by /aimg and the "Use these settings" form."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.backends.aimg import (
    WORKFLOW_PARAM,
)
from bot.discord_side.access import JobModal
from bot.discord_side.language import for_member
from bot.discord_side.replies import defer_job_message, refuse
from bot.domain import MEMBER_SOURCE, BackendError, ErrorKind, Job, JobKind
from bot.i18n import render, said, tr
from bot.jobs.aimg_items import NO_ACCOUNT
from bot.jobs.calls import UserError
from bot.jobs.rules import MAX_PROMPT_CHARS

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot


async def start_generation(
    interaction: discord.Interaction[Any], *, prompt: str, params: dict[str, str], video: bool = False
) -> None:
    """Check ``params`` against the model's limits and the account's tier, then queue the job.

    It acknowledges ``interaction`` with the public "thinking…" message that becomes the job's
    (bot/discord_side/replies.py); a refusal withdraws it and tells the member alone. The check runs before
    anything reaches the API, so a refusal names the allowed range. ``video``
    asks for a video: the default video model unless ``params`` names a model (which must be one).
    """
    bot: MjBot = interaction.client
    reply = await defer_job_message(interaction)
    assert interaction.guild_id is not None and interaction.channel_id is not None
    account = bot.engine.aimg.account(interaction.guild_id, interaction.channel_id, interaction.user.id)
    if account is None:
        await refuse(interaction, NO_ACCOUNT)
        return
    try:
        params, problems = await bot.engine.aimg.check_generation(account, prompt, params, video=video)
    except BackendError as exc:
        await refuse(interaction, _refusal(exc, params))
        return
    except UserError as exc:
        await refuse(interaction, said(exc))
        return
    if problems:
        await refuse(interaction, "\n".join(f"• {for_member(interaction, p)}" for p in problems))
        return
    try:
        await bot.engine.submit(
            JobKind.GENERATE,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            owner_id=interaction.user.id,
            prompt=prompt,
            params=params,
            # A member's own account runs only their jobs; shared ones are chosen by the engine.
            account_id=account.id if account.source == MEMBER_SOURCE else None,
            reply=reply,
        )
    except UserError as exc:
        await refuse(interaction, said(exc))


def _refusal(exc: BackendError, params: dict[str, str]) -> str:
    if params.get(WORKFLOW_PARAM) and exc.kind is ErrorKind.QUOTA:
        # AIMG's API2 (workflows) serves PRO accounts only; the usual "out of credits" would mislead.
        return tr(
            "{sentence} (Service said: {detail})",
            sentence=tr(
                "AIMG runs workflow templates for PRO accounts only, and this account is not one. "
                "Use /aimg generate instead."
            ),
            detail=exc.detail[:300],
        )
    return exc.user_message


class SettingsModal(JobModal):
    """A finished generation's parameters (button ``index`` of ``job``), editable, for a new
    generation (model, size and sampler are kept; Discord modals hold five inputs), in ``locale``."""

    def __init__(self, job: Job, index: int, locale: str) -> None:
        super().__init__(job, index, title=render(tr("Use these settings"), locale))
        params = job.params
        self.prompt: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label=render(tr("Prompt"), locale),
            style=discord.TextStyle.paragraph,
            default=job.prompt[:4000],
            max_length=4000,
        )
        self.negative: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label=render(tr("Negative prompt"), locale),
            style=discord.TextStyle.paragraph,
            default=params.get("negprompt", ""),
            required=False,
            max_length=MAX_PROMPT_CHARS,
        )
        self.steps: discord.ui.TextInput[Any] = _number_input(
            render(tr("Steps"), locale), params.get("steps", "")
        )
        self.cfg: discord.ui.TextInput[Any] = _number_input(
            render(tr("CFG scale"), locale), params.get("cfgscale", "")
        )
        self.seed: discord.ui.TextInput[Any] = _number_input(
            render(tr("Seed (empty: random)"), locale), params.get("seed", "")
        )
        for item in (self.prompt, self.negative, self.steps, self.cfg, self.seed):
            self.add_item(item)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        typed = {
            "negprompt": self.negative.value,
            "steps": self.steps.value.strip(),
            "cfgscale": self.cfg.value.strip().replace(",", "."),
            "seed": self.seed.value.strip(),
        }
        # An emptied field goes back to the model's default rather than keep the old value.
        params = {k: v for k, v in {**self.job.params, **typed}.items() if v}
        await start_generation(interaction, prompt=self.prompt.value.strip(), params=params)


def _number_input(label: str, default: str) -> discord.ui.TextInput[Any]:
    return discord.ui.TextInput(label=label, default=default, required=False, max_length=20)
