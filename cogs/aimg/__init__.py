"""/aimg: generate with AIMG's own options or a workflow template, sign a member's AIMG account in,
list creations and models.

Every subcommand works only where :func:`bot.discord_side.access.aimg_allowed` says so
(age-restricted channels). Generations and workflow runs become GENERATE jobs, shown and tracked like
any other job; model, size and sampler suggestions come from the account's ``getModels``, in the
order the service gives, and template suggestions from its ``2/getAggregatedWorkflowTemplates``.

What the result buttons and modals share lives beside it: the checked start of a generation and
"Use these settings" (``generation``), the item actions and report form (``items``), the one-time-code
sign-in (``sign_in``). Everything AIMG answers comes through the engine's AIMG part
(``bot.engine.aimg``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.backends.aimg import (
    DEFAULT_VIDEO_MODEL,
    WORKFLOW_FIELDS,
    WORKFLOW_PARAM,
    AimgModel,
    AimgWorkflowTemplate,
)
from bot.discord_side.access import AGE_REFUSAL, aimg_allowed
from bot.discord_side.language import for_member, member_locale, tell
from bot.domain import Account, BackendError
from bot.i18n import Msg, render, tr
from bot.jobs.aimg_items import NO_ACCOUNT, Unlinked
from bot.jobs.calls import UserError
from bot.jobs.rules import MAX_PROMPT_CHARS
from cogs.aimg.creations import CreationsView, sentence_of
from cogs.aimg.generation import start_generation
from cogs.aimg.sign_in import send_sign_in

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot

#: Most images a workflow run may make at once: a Discord message holds 10 files.
MAX_BATCH = 10
#: Discord shows at most 25 autocomplete choices.
MAX_CHOICES = 25
_SIZE = re.compile(r"\s*(\d+)\s*[x×]\s*(\d+)\s*")
_SEED = app_commands.Range[int, 0, 2**32 - 1]
_T = TypeVar("_T")
_LOGOUT_SENTENCES: dict[Unlinked, Msg] = {
    "signed_out": tr(
        "You are signed out of AIMG and your account is unlinked; generations here use the "
        "server's account again."
    ),
    "here_only": tr(
        "Your AIMG account is unlinked here, but AIMG did not confirm the sign-out: sign out "
        "on AIMG's website to end that session."
    ),
    "none": tr("You have no AIMG account linked here."),
}


class Aimg(commands.GroupCog, group_name="aimg", group_description="Generate with AIMG (adults only)."):
    def __init__(self, bot: MjBot) -> None:
        self.bot = bot

    # ------------------------------------------------------------------------------ helpers

    async def _refused(self, interaction: discord.Interaction[Any]) -> bool:
        """True (after telling the member why) when AIMG commands may not run in this channel."""
        if await aimg_allowed(self.bot, interaction):
            return False
        await tell(interaction, AGE_REFUSAL)
        return True

    async def _deferred_account(self, interaction: discord.Interaction[Any]) -> Account | None:
        """For commands that call AIMG: the age gate, an ephemeral defer, then the account to use.
        None (after telling the member why) when the command cannot go on."""
        if await self._refused(interaction):
            return None
        await interaction.response.defer(ephemeral=True, thinking=True)
        account = self._account(interaction)
        if account is None:
            await tell(interaction, NO_ACCOUNT)
        return account

    def _account(self, interaction: discord.Interaction[Any]) -> Account | None:
        if interaction.guild_id is None or interaction.channel_id is None:
            return None
        return self.bot.engine.aimg.account(interaction.guild_id, interaction.channel_id, interaction.user.id)

    async def _listed(
        self, interaction: discord.Interaction[Any], load: Callable[[Account], Awaitable[list[_T]]]
    ) -> list[_T]:
        """A list of the account's for autocomplete: none (rather than an error) when it cannot answer."""
        account = self._account(interaction)
        if account is None or not await aimg_allowed(self.bot, interaction):
            return []
        try:
            return await load(account)
        except (BackendError, UserError):
            return []

    async def _models(self, interaction: discord.Interaction[Any]) -> list[AimgModel]:
        return await self._listed(interaction, self.bot.engine.aimg.models)

    async def _chosen_model(self, interaction: discord.Interaction[Any]) -> AimgModel | None:
        """The model typed in the command so far, else the one a generation would use."""
        account = self._account(interaction)
        models = await self._models(interaction)
        if account is None or not models:
            return None
        namespace = interaction.namespace
        default = self.bot.engine.aimg.default_model(account)
        wanted = namespace.model or (DEFAULT_VIDEO_MODEL if namespace.video else default)
        return next((m for m in models if m.model_id == wanted), None)

    # ----------------------------------------------------------------------------- generate

    @app_commands.command(name="generate", description="Generate an image or a video with AIMG.")
    @app_commands.describe(
        prompt="What to generate.",
        model="The AIMG model (default: the account's image model).",
        negative="What to keep out of the image.",
        size="Width x height; the suggestions are the model's allowed sizes.",
        steps="Sampling steps; each model has its own range.",
        cfg="How closely to follow the prompt (CFG scale); each model has its own range.",
        sampler="The sampler; the suggestions are the model's.",
        seed="Seed for a repeatable result (default: random).",
        face_fix="Restore faces (default: the model's choice).",
        video="Make a video (uses the default video model unless you choose one).",
    )
    @app_commands.guild_only()
    async def generate(
        self,
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS],
        model: str | None = None,
        negative: app_commands.Range[str, 1, MAX_PROMPT_CHARS] | None = None,
        size: str | None = None,
        steps: int | None = None,
        cfg: float | None = None,
        sampler: str | None = None,
        seed: _SEED | None = None,
        face_fix: bool | None = None,
        video: bool = False,
    ) -> None:
        if await self._refused(interaction):
            return
        dimensions = await _dimensions(interaction, size)
        if dimensions is None:
            return
        params = _params(
            {
                "model_name": model,
                "negprompt": negative,
                **dimensions,
                "steps": steps,
                "cfgscale": cfg,
                "sampler": sampler,
                "seed": seed,
                "restore_faces": None if face_fix is None else str(face_fix).lower(),
            }
        )
        await start_generation(interaction, prompt=prompt, params=params, video=video)

    @generate.autocomplete("prompt")
    async def _prompt_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        """What the member typed, then AIMG's sample prompts that contain it (those that fit)."""
        typed = current.strip()
        samples = await self._listed(interaction, self.bot.engine.aimg.sample_prompts)
        offered = [
            p.positive_prompt
            for p in samples
            if typed.lower() in p.positive_prompt.lower() and p.positive_prompt != typed
        ]
        texts = ([typed] if typed else []) + offered
        return [app_commands.Choice(name=t, value=t) for t in texts if len(t) <= 100][:MAX_CHOICES]

    @generate.autocomplete("model")
    async def _model_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        typed, locale = current.lower(), member_locale(interaction)
        return [
            app_commands.Choice(name=_model_label(m, locale)[:100], value=m.model_id)
            for m in await self._models(interaction)
            if typed in m.model_id.lower() or typed in m.name.lower()
        ][:MAX_CHOICES]

    @generate.autocomplete("size")
    async def _size_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        model = await self._chosen_model(interaction)
        if model is None:
            return []
        sizes = [
            f"{w}x{h}"
            for w in model.allowed_widths
            for h in model.allowed_heights
            if w * h <= model.max_resolution
        ]
        return [app_commands.Choice(name=s, value=s) for s in sizes if current in s][:MAX_CHOICES]

    @generate.autocomplete("sampler")
    async def _sampler_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        model = await self._chosen_model(interaction)
        if model is None:
            return []
        typed = current.lower()
        return [app_commands.Choice(name=s, value=s) for s in model.allowed_samplers if typed in s.lower()][
            :MAX_CHOICES
        ]

    # ----------------------------------------------------------------------------- workflow

    @app_commands.command(
        name="workflow", description="Run one of AIMG's workflow templates (PRO accounts only)."
    )
    @app_commands.describe(
        template="The workflow template; the suggestions are the ones AIMG offers this account.",
        prompt="What to generate.",
        negative="What to keep out of the image.",
        size="Width x height, e.g. 768x1024, within the template's limits.",
        steps="Sampling steps, within the template's limits (default: the template's).",
        cfg="How closely to follow the prompt (CFG scale), within the template's limits.",
        seed="Seed for a repeatable result (default: random).",
        lora="LoRA names, comma-separated, among the template's (e.g. detail-tweaker, film-grain).",
        lora_strength="The LoRAs' strengths, comma-separated, in the same order (e.g. 0.8, 0.5).",
        batch="How many images to make at once, within the template's limit (all are shown).",
    )
    @app_commands.guild_only()
    async def workflow(
        self,
        interaction: discord.Interaction[Any],
        template: app_commands.Range[str, 1, 100],
        prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS],
        negative: app_commands.Range[str, 1, MAX_PROMPT_CHARS] | None = None,
        size: str | None = None,
        steps: int | None = None,
        cfg: float | None = None,
        seed: _SEED | None = None,
        lora: app_commands.Range[str, 1, 200] | None = None,
        lora_strength: app_commands.Range[str, 1, 100] | None = None,
        batch: app_commands.Range[int, 1, MAX_BATCH] | None = None,
    ) -> None:
        if await self._refused(interaction):
            return
        dimensions = await _dimensions(interaction, size)
        if dimensions is None:
            return
        # Only what the member gave: the template's own defaults fill in the rest.
        params = _params(
            {
                WORKFLOW_PARAM: template,
                "negprompt": negative,
                **dimensions,
                "steps": steps,
                "cfgscale": cfg,
                "seed": seed,
                "lora": lora,
                "lora_strength": lora_strength,
                "batch_size": batch,
            }
        )
        await start_generation(interaction, prompt=prompt, params=params)

    @workflow.autocomplete("template")
    async def _template_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        typed = current.lower()
        templates = await self._listed(interaction, self.bot.engine.aimg.workflow_templates)
        return [
            app_commands.Choice(name=for_member(interaction, _template_label(t))[:100], value=t.name)
            for t in templates
            if typed in t.name.lower() and len(t.name) <= 100
        ][:MAX_CHOICES]

    # -------------------------------------------------------------------------------- login

    @app_commands.command(
        name="login", description="Link your own AIMG account: your generations here go to your library."
    )
    @app_commands.describe(email="Your AIMG account's email; a one-time code is sent there.")
    @app_commands.guild_only()
    async def login(
        self, interaction: discord.Interaction[Any], email: app_commands.Range[str, 3, 254]
    ) -> None:
        account = await self._deferred_account(interaction)
        if account is None:
            return
        assert interaction.guild_id is not None
        guild_id, user_id, base_url = interaction.guild_id, interaction.user.id, account.base_url

        async def link(session_id: str) -> str:
            await self.bot.engine.aimg.link_member_account(
                guild_id=guild_id, user_id=user_id, base_url=base_url, session_id=session_id, email=email
            )
            return tr(
                "Signed in as {email}. Your /aimg generations in this server now go to your own "
                "AIMG library; /aimg creations lists them. /aimg logout unlinks it.",
                email=email,
            )

        await send_sign_in(interaction, base_url, email, link, retry="/aimg login")

    @app_commands.command(name="logout", description="Unlink your own AIMG account from this server.")
    @app_commands.guild_only()
    async def logout(self, interaction: discord.Interaction[Any]) -> None:
        assert interaction.guild_id is not None
        # Signing out at AIMG takes a request: acknowledge first.
        await interaction.response.defer(ephemeral=True, thinking=True)
        unlinked = await self.bot.engine.aimg.unlink_member_account(interaction.guild_id, interaction.user.id)
        await tell(interaction, _LOGOUT_SENTENCES[unlinked])

    # ---------------------------------------------------------------------------- creations

    @app_commands.command(
        name="creations", description="Page through the AIMG library your generations go to."
    )
    @app_commands.guild_only()
    async def creations(self, interaction: discord.Interaction[Any]) -> None:
        account = await self._deferred_account(interaction)
        if account is None:
            return
        view = CreationsView(self.bot, account, member_locale(interaction))
        try:
            content, embeds = await view.load()
        except (BackendError, UserError) as exc:
            await tell(interaction, sentence_of(exc))
            return
        await interaction.followup.send(content, embeds=embeds, view=view, ephemeral=True)

    # ------------------------------------------------------------------------------- models

    @app_commands.command(name="models", description="List the AIMG models and their limits.")
    @app_commands.guild_only()
    async def models(self, interaction: discord.Interaction[Any]) -> None:
        account = await self._deferred_account(interaction)
        if account is None:
            return
        try:
            models = await self.bot.engine.aimg.models(account)
        except (BackendError, UserError) as exc:
            await tell(interaction, sentence_of(exc))
            return
        locale = member_locale(interaction)
        lines = [_model_limits(m, locale) for m in models]
        embed = discord.Embed(title=render(tr("AIMG models"), locale), description="\n".join(lines)[:4096])
        await interaction.followup.send(embed=embed, ephemeral=True)


async def _dimensions(interaction: discord.Interaction[Any], size: str | None) -> dict[str, str] | None:
    """``size`` as ``width`` and ``height`` params (none when not given); None, after telling the
    member, when it is not WIDTHxHEIGHT."""
    if size is None:
        return {}
    match = _SIZE.fullmatch(size)
    if match is None:
        await tell(
            interaction,
            tr(
                "Size {size} is not WIDTHxHEIGHT (e.g. 512x768); type it that way or pick a suggestion.",
                size=repr(size),
            ),
        )
        return None
    return {"width": match.group(1), "height": match.group(2)}


def _params(given: Mapping[str, object]) -> dict[str, str]:
    """A job's string parameters: the options the member gave (None or empty means not given)."""
    return {key: str(value) for key, value in given.items() if value not in (None, "")}


def _template_label(template: AimgWorkflowTemplate) -> str:
    """A template as an autocomplete choice: its name and its steps range, when it has one."""
    steps = template.parameter(WORKFLOW_FIELDS["steps"])
    if steps is None or steps.min is None or steps.max is None:
        return template.name
    return tr("{template} (steps {low}-{high})", template=template.name, low=steps.min, high=steps.max)


def _model_label(model: AimgModel, locale: str) -> str:
    """A model as an autocomplete choice: name, media and what the account needs for it."""
    notes = [tr("video") if model.is_video else tr("image")]
    if model.min_tier:
        notes.append(tr("PRO tier {tier}", tier=model.min_tier))
    if model.registration_wall:
        notes.append(tr("signed-up accounts"))
    return f"{model.name} ({', '.join(render(note, locale) for note in notes)})"


def _model_limits(model: AimgModel, locale: str) -> str:
    shown = tr(
        "**{label}** `{model}`: steps {steps}, CFG {cfg}, sizes {sizes} (at most {pixels} pixels)",
        label=discord.utils.escape_markdown(_model_label(model, locale)),
        model=model.model_id,
        steps=f"{model.min_steps}-{model.max_steps}",
        cfg=f"{model.min_cfg_scale:g}-{model.max_cfg_scale:g}",
        sizes=f"{'/'.join(map(str, model.allowed_widths))} x {'/'.join(map(str, model.allowed_heights))}",
        pixels=model.max_resolution,
    )
    if model.supports_variations and not model.is_video:
        shown = tr("{limits}, variations", limits=shown)
    return render(shown, locale)


async def setup(bot: MjBot) -> None:
    await bot.add_cog(Aimg(bot))
