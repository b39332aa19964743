"""What the /aimg cog, the result buttons and the modals share: starting a checked
AIMG generation (a workflow run too), the "Use these settings" modal and the item actions (like,
dislike, delete, and report with the form that asks AIMG's category).

Kept apart from ``cogs/aimg.py`` for an import cycle through the job renderer, which no longer
exists (``bot/discord_side/render.py`` imports no cog; ``tests/test_layers.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import discord

from bot.backends.aimg import (
    DEFAULT_REPORT_QUEUE,
    DEFAULT_VIDEO_MODEL,
    WORKFLOW_PARAM,
    AimgBackend,
    request_problems,
    vote_of,
)
from bot.backends.aimg import custom_id as aimg_custom_id
from bot.discord_side import custom_ids
from bot.discord_side.replies import defer_job_message, refuse
from bot.domain import MEMBER_SOURCE, Account, BackendError, BackendKind, ErrorKind, Job, JobKind
from bot.jobs.engine import MAX_PROMPT_CHARS, UserError
from cogs.access import JobModal

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot

NO_ACCOUNT = "This server has no AIMG account for this channel. Ask a server admin to set one up."
_DELETE = aimg_custom_id("delete")
_REPORT = aimg_custom_id("report")
#: How long a 🚩 click waits for AIMG's report categories. The form must open within Discord's 3 s
#: to answer; the categories are cached, so only the first click in a while waits at all.
REPORT_QUEUES_WAIT = 2.0
#: Longest report details (a short paragraph for AIMG's moderators).
REPORT_DETAILS_CHARS = 1000


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
    found = bot.engine.aimg_account(interaction.guild_id, interaction.channel_id, interaction.user.id)
    if found is None:
        await refuse(interaction, NO_ACCOUNT)
        return
    account, backend = found
    try:
        params, problems = await _checked(backend, prompt, params, video=video)
    except BackendError as exc:
        await refuse(interaction, _refusal(exc, params))
        return
    if problems:
        await refuse(interaction, "\n".join(f"• {p}" for p in problems))
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
        await refuse(interaction, str(exc))


async def _checked(
    backend: AimgBackend, prompt: str, params: dict[str, str], *, video: bool
) -> tuple[dict[str, str], list[str]]:
    """The parameters as the job will keep them, and everything the chosen model (or workflow
    template) and the account would refuse in them."""
    if params.get(WORKFLOW_PARAM):
        _, problems = await backend.check_workflow({**params, "prompt": prompt})
        return params, problems
    model_id = params.get("model_name") or (DEFAULT_VIDEO_MODEL if video else backend.default_model)
    model = await backend.get_model(model_id)
    user = await backend.get_self_user()
    problems = request_problems(model, {**params, "prompt": prompt}, user=user)
    if video and not model.is_video:
        problems.append(f"{model.name} makes images; choose a video model or leave video off.")
    return {**params, "model_name": model.model_id}, problems


def _refusal(exc: BackendError, params: dict[str, str]) -> str:
    if params.get(WORKFLOW_PARAM) and exc.kind is ErrorKind.QUOTA:
        # AIMG's API2 (workflows) serves PRO accounts only; the usual "out of credits" would mislead.
        return (
            "AIMG runs workflow templates for PRO accounts only, and this account is not one. "
            f"Use /aimg generate instead. (Service said: {exc.detail[:300]})"
        )
    return exc.user_message


class SettingsModal(JobModal, title="Use these settings"):
    """A finished generation's parameters (button ``index`` of ``job``), editable, for a new
    generation (model, size and sampler are kept; Discord modals hold five inputs)."""

    def __init__(self, job: Job, index: int) -> None:
        super().__init__(job, index)
        params = job.params
        self.prompt: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="Prompt", style=discord.TextStyle.paragraph, default=job.prompt[:4000], max_length=4000
        )
        self.negative: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="Negative prompt",
            style=discord.TextStyle.paragraph,
            default=params.get("negprompt", ""),
            required=False,
            max_length=MAX_PROMPT_CHARS,
        )
        self.steps: discord.ui.TextInput[Any] = _number_input("Steps", params.get("steps", ""))
        self.cfg: discord.ui.TextInput[Any] = _number_input("CFG scale", params.get("cfgscale", ""))
        self.seed: discord.ui.TextInput[Any] = _number_input("Seed (empty: random)", params.get("seed", ""))
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


async def item_action_clicked(interaction: discord.Interaction[Any], job: Job, index: int) -> None:
    """👍, 👎, 🗑️ or 🚩 on a result: act on the item at the service, confirm privately. A deleted
    item's message goes too (the click handler has checked who may: cogs/access.py). 🚩 first
    opens a form asking AIMG's report category and optional details."""
    if job.buttons[index].custom_id == _REPORT:
        await _open_report(interaction, job, index)
        return
    await interaction.response.defer()
    await _item_action(interaction, job, index)


async def _item_action(
    interaction: discord.Interaction[Any],
    job: Job,
    index: int,
    *,
    report_queue: str | None = None,
    details: str | None = None,
) -> None:
    """The item action itself, once ``interaction`` is acknowledged."""
    bot: MjBot = interaction.client
    try:
        text = await bot.engine.item_action(
            job, index, user_id=interaction.user.id, report_queue=report_queue, details=details
        )
    except UserError as exc:
        await interaction.followup.send(str(exc), ephemeral=True)
        return
    if job.buttons[index].custom_id == _DELETE and interaction.message is not None:
        await interaction.message.delete()
    elif vote_of(job.buttons[index].custom_id) is not None and interaction.message is not None:
        vote = await bot.engine.member_vote(job.id, interaction.user.id)
        await bot.publisher.edit_view(job, _show_vote(interaction.message, job, vote))
    await interaction.followup.send(text, ephemeral=True)


def _show_vote(message: discord.Message, job: Job, vote: str | None) -> discord.ui.View:
    """The result's buttons again, 👍 or 👎 green when it is the vote of the member who just
    voted (the message is shared: it shows the last voter's vote)."""
    view = discord.ui.View.from_message(message, timeout=None)
    for index, button in enumerate(job.buttons):
        cast = vote_of(button.custom_id)
        shown_id = custom_ids.result(job.id, index)
        item = next((i for i in view.children if getattr(i, "custom_id", None) == shown_id), None)
        if cast is not None and isinstance(item, discord.ui.Button):
            item.style = discord.ButtonStyle.success if cast == vote else discord.ButtonStyle.secondary
    return view


async def _open_report(interaction: discord.Interaction[Any], job: Job, index: int) -> None:
    """Open the report form (a modal must be the first answer to the click, so no defer)."""
    bot: MjBot = interaction.client
    try:
        backend, _ = bot.engine.item_backend(job, index, interaction.user.id)
        async with asyncio.timeout(REPORT_QUEUES_WAIT):
            queues = await backend.get_report_queues()
    except UserError as exc:
        text = str(exc)
    except BackendError as exc:
        text = exc.user_message
    except TimeoutError:
        text = "AIMG did not send its report categories in time. Click 🚩 again in a minute."
    else:
        await interaction.response.send_modal(ReportModal(job, index, queues))
        return
    await interaction.response.send_message(text, ephemeral=True)


class ReportModal(JobModal, title="Report this item"):
    """🚩: one of AIMG's report categories (getReportQueues) and optional details for its moderators."""

    def __init__(self, job: Job, index: int, queues: Sequence[str]) -> None:
        super().__init__(job, index)
        # Discord lists 25 options of at most 100 characters; with no category AIMG files the
        # report under its default, so offer that one.
        offered = [q for q in queues if 0 < len(q) <= 100][:25] or [DEFAULT_REPORT_QUEUE]
        self.category: discord.ui.Select[Any] = discord.ui.Select(
            options=[discord.SelectOption(label=q, value=q) for q in offered],
            placeholder="What is wrong with it?",
            min_values=1,
            max_values=1,
        )
        self.details: discord.ui.TextInput[Any] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            placeholder="Anything that helps AIMG's moderators.",
            required=False,
            max_length=REPORT_DETAILS_CHARS,
        )
        self.add_item(discord.ui.Label(text="Category", component=self.category))
        self.add_item(discord.ui.Label(text="Details (optional)", component=self.details))

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer()
        details = self.details.value.strip() or None
        await _item_action(
            interaction, self.job, self.index, report_queue=self.category.values[0], details=details
        )


# ----------------------------------------------------------------------------------- sign-in

#: What a finished sign-in does with the new session id; returns the sentence to show.
SignedIn = Callable[[str], Awaitable[str]]


async def send_sign_in(
    interaction: discord.Interaction[Any], base_url: str, email: str, finish: SignedIn, *, retry: str
) -> None:
    """Start AIMG's sign-in (a fresh session asks for a one-time code by email) and answer the
    deferred ``interaction`` with an "Enter code" button; ``finish`` runs once AIMG accepts it."""
    bot: MjBot = interaction.client
    assert interaction.guild_id is not None
    try:
        fresh = await _session(bot, interaction.guild_id, base_url, "").get_self_user()
        backend = _session(bot, interaction.guild_id, base_url, fresh.session_id)
        await backend.request_otp(email)
    except BackendError as exc:
        await interaction.followup.send(exc.user_message, ephemeral=True)
        return
    await interaction.followup.send(
        f"AIMG sent a one-time code to {email}. Click **Enter code** to finish signing in.",
        view=OtpView(backend, email=email, owner_id=interaction.user.id, finish=finish, retry=retry),
        ephemeral=True,
    )


def _session(bot: MjBot, guild_id: int, base_url: str, session_id: str) -> AimgBackend:
    account = Account(id=0, guild_id=guild_id, name="aimg-login", kind=BackendKind.AIMG, base_url=base_url)
    return AimgBackend(account.model_copy(update={"secret": session_id}), bot.engine.http_for_url(base_url))


class OtpView(discord.ui.View):
    """The "Enter code" button of a pending sign-in (a modal cannot follow a deferred command)."""

    def __init__(
        self, backend: AimgBackend, *, email: str, owner_id: int, finish: SignedIn, retry: str
    ) -> None:
        super().__init__(timeout=900)
        self.backend, self.email, self.owner_id = backend, email, owner_id
        self.finish, self.retry = finish, retry

    @discord.ui.button(label="Enter code", style=discord.ButtonStyle.primary)
    async def enter(self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]) -> None:
        await interaction.response.send_modal(OtpModal(self))


class OtpModal(discord.ui.Modal, title="Sign in to AIMG"):
    def __init__(self, pending: OtpView) -> None:
        super().__init__(timeout=900)
        self.pending = pending
        self.code: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="One-time code", min_length=4, max_length=12
        )
        self.adult: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="I am 18 or older (type YES)", max_length=3
        )
        self.add_item(self.code)
        self.add_item(self.adult)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        if self.adult.value.strip().lower() != "yes":
            await interaction.response.send_message(
                "AIMG is for adults only: the account was not linked. Type YES only if you are 18 or older.",
                ephemeral=True,
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        pending = self.pending
        try:
            user = await pending.backend.authenticate_user(
                pending.email, self.code.value.strip(), adult_confirmed=True
            )
            text = await pending.finish(user.session_id)
        except BackendError as exc:
            # A wrong code leaves the code request standing: the member may type it again.
            text = (
                "That one-time code is wrong or has expired. Click **Enter code** to type it again."
                if exc.kind is ErrorKind.INVALID_INPUT
                else f"{exc.user_message} Run {pending.retry} again for a new code."
            )
            await interaction.followup.send(text, ephemeral=True)
            return
        except UserError as exc:
            await interaction.followup.send(str(exc), ephemeral=True)
            return
        pending.stop()
        await interaction.followup.send(text, ephemeral=True)
