"""What the /aimg cog, the result buttons and the modals share: the age gate, starting a checked
AIMG generation, the "Use these settings" modal and the item actions (like, dislike, delete, report).

Kept apart from ``cogs/aimg.py`` so that ``cogs/buttons.py`` and ``cogs/modals.py`` can use it
without importing the cog (which imports them through ``cogs/render.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord

from bot.backends.aimg import DEFAULT_VIDEO_MODEL, AimgBackend, request_problems
from bot.backends.aimg import custom_id as aimg_custom_id
from bot.domain import MEMBER_SOURCE, Account, BackendError, BackendKind, Job, JobKind
from bot.jobs.engine import MAX_PROMPT_CHARS, UserError

if TYPE_CHECKING:
    from bot.app import MjBot

AGE_REFUSAL = (
    "AIMG makes adult content, so its commands work only in age-restricted channels. "
    "Use an age-restricted channel, or ask an admin to allow this one."
)
NO_ACCOUNT = "This server has no AIMG account for this channel. Ask a server admin to set one up."
_DELETE = aimg_custom_id("delete")


async def aimg_allowed(bot: MjBot, interaction: discord.Interaction[Any]) -> bool:
    """Whether AIMG commands may run where ``interaction`` happens: an age-restricted (NSFW)
    channel, or one an admin allowed with ``/setup channel aimg_allowed:True``."""
    is_nsfw = getattr(interaction.channel, "is_nsfw", None)
    if is_nsfw and is_nsfw():
        return True
    if interaction.guild_id is None or interaction.channel_id is None:
        return False
    config = await bot.engine.guild_config(interaction.guild_id)
    return config.channel(interaction.channel_id).aimg_allowed


async def start_generation(
    interaction: discord.Interaction[Any], *, prompt: str, params: dict[str, str], video: bool = False
) -> None:
    """Check ``params`` against the model's limits and the account's tier, then queue the job.

    The interaction must already be acknowledged; every answer is an ephemeral follow-up. The
    check runs before anything reaches the API, so a refusal names the allowed range. ``video``
    asks for a video: the default video model unless ``params`` names a model (which must be one).
    """
    bot: MjBot = interaction.client
    assert interaction.guild_id is not None and interaction.channel_id is not None
    found = bot.engine.aimg_account(interaction.guild_id, interaction.channel_id, interaction.user.id)
    if found is None:
        await interaction.followup.send(NO_ACCOUNT, ephemeral=True)
        return
    account, backend = found
    model_id = params.get("model_name") or (DEFAULT_VIDEO_MODEL if video else backend.default_model)
    try:
        model = await backend.get_model(model_id)
        user = await backend.get_self_user()
        problems = request_problems(model, {**params, "prompt": prompt}, user=user)
    except BackendError as exc:
        await interaction.followup.send(exc.user_message, ephemeral=True)
        return
    if video and not model.is_video:
        problems.append(f"{model.name} makes images; choose a video model or leave video off.")
    if problems:
        await interaction.followup.send("\n".join(f"• {p}" for p in problems), ephemeral=True)
        return
    try:
        job = await bot.engine.submit(
            JobKind.GENERATE,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            owner_id=interaction.user.id,
            prompt=prompt,
            params={**params, "model_name": model.model_id},
            # A member's own account runs only their jobs; shared ones are chosen by the engine.
            account_id=account.id if account.source == MEMBER_SOURCE else None,
        )
    except UserError as exc:
        await interaction.followup.send(str(exc), ephemeral=True)
        return
    await interaction.followup.send(
        f"Job #{job.id} is on its way; it will appear in this channel.", ephemeral=True
    )


class SettingsModal(discord.ui.Modal, title="Use these settings"):
    """A finished generation's parameters, editable, for a new generation (model, size and sampler
    are kept; Discord modals hold five inputs)."""

    def __init__(self, job: Job) -> None:
        super().__init__(timeout=900)
        self.job = job
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
        await interaction.response.defer(ephemeral=True, thinking=True)
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
    item's message goes too (the click handler has checked: owner or Manage Messages)."""
    bot: MjBot = interaction.client
    await interaction.response.defer()
    try:
        text = await bot.engine.item_action(job, index, user_id=interaction.user.id)
    except UserError as exc:
        await interaction.followup.send(str(exc), ephemeral=True)
        return
    if job.buttons[index].custom_id == _DELETE and interaction.message is not None:
        await interaction.message.delete()
    await interaction.followup.send(text, ephemeral=True)


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
    return AimgBackend(account.model_copy(update={"secret": session_id}), bot.http_client)


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
            user = await pending.backend.authenticate_user(pending.email, self.code.value.strip())
            text = await pending.finish(user.session_id)
        except BackendError as exc:
            await interaction.followup.send(
                f"{exc.user_message} Run {pending.retry} again for a new code.", ephemeral=True
            )
            return
        except UserError as exc:
            await interaction.followup.send(str(exc), ephemeral=True)
            return
        pending.stop()
        await interaction.followup.send(text, ephemeral=True)
