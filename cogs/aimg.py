"""/aimg: generate with AIMG's own options or a workflow template, sign a member's AIMG account in,
list creations and models.

Every subcommand works only where :func:`cogs.access.aimg_allowed` says so (age-restricted
channels). Generations and workflow runs become GENERATE jobs, shown and tracked like any other
job; model, size and sampler suggestions come from the account's ``getModels``, in the order the
service gives, and template suggestions from its ``2/getAggregatedWorkflowTemplates``.
"""

from __future__ import annotations

import asyncio
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
    AimgBackend,
    AimgItem,
    AimgItemDetails,
    AimgModel,
    AimgPage,
    AimgWorkflowTemplate,
)
from bot.domain import MEMBER_SOURCE, Account, BackendError
from bot.jobs.engine import MAX_PROMPT_CHARS, Unlinked
from cogs.access import AGE_REFUSAL, aimg_allowed
from cogs.aimg_flow import NO_ACCOUNT, send_sign_in, start_generation

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot

#: Items per /aimg creations page.
PAGE_SIZE = 10
#: Discord shows at most 25 autocomplete choices.
MAX_CHOICES = 25
_SIZE = re.compile(r"\s*(\d+)\s*[x×]\s*(\d+)\s*")
_SEED = app_commands.Range[int, 0, 2**32 - 1]
_T = TypeVar("_T")
_LOGOUT_SENTENCES: dict[Unlinked, str] = {
    "signed_out": "You are signed out of AIMG and your account is unlinked; generations here use the "
    "server's account again.",
    "here_only": "Your AIMG account is unlinked here, but AIMG did not confirm the sign-out: sign out "
    "on AIMG's website to end that session.",
    "none": "You have no AIMG account linked here.",
}


class Aimg(commands.GroupCog, group_name="aimg", group_description="Generate with AIMG (adults only)."):
    def __init__(self, bot: MjBot) -> None:
        self.bot = bot

    # ------------------------------------------------------------------------------ helpers

    async def _refused(self, interaction: discord.Interaction[Any]) -> bool:
        """True (after telling the member why) when AIMG commands may not run in this channel."""
        if await aimg_allowed(self.bot, interaction):
            return False
        await interaction.response.send_message(AGE_REFUSAL, ephemeral=True)
        return True

    async def _deferred_account(
        self, interaction: discord.Interaction[Any]
    ) -> tuple[Account, AimgBackend] | None:
        """For commands that call AIMG: the age gate, an ephemeral defer, then the account to use.
        None (after telling the member why) when the command cannot go on."""
        if await self._refused(interaction):
            return None
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = self._backend(interaction)
        if found is None:
            await interaction.followup.send(NO_ACCOUNT, ephemeral=True)
        return found

    def _backend(self, interaction: discord.Interaction[Any]) -> tuple[Account, AimgBackend] | None:
        if interaction.guild_id is None or interaction.channel_id is None:
            return None
        return self.bot.engine.aimg_account(interaction.guild_id, interaction.channel_id, interaction.user.id)

    async def _listed(
        self, interaction: discord.Interaction[Any], load: Callable[[AimgBackend], Awaitable[list[_T]]]
    ) -> list[_T]:
        """A list of the account's for autocomplete: none (rather than an error) when it cannot answer."""
        found = self._backend(interaction)
        if found is None or not await aimg_allowed(self.bot, interaction):
            return []
        try:
            return await load(found[1])
        except BackendError:
            return []

    async def _models(self, interaction: discord.Interaction[Any]) -> list[AimgModel]:
        return await self._listed(interaction, lambda backend: backend.get_models())

    async def _chosen_model(self, interaction: discord.Interaction[Any]) -> AimgModel | None:
        """The model typed in the command so far, else the one a generation would use."""
        found = self._backend(interaction)
        models = await self._models(interaction)
        if found is None or not models:
            return None
        namespace = interaction.namespace
        wanted = namespace.model or (DEFAULT_VIDEO_MODEL if namespace.video else found[1].default_model)
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
        samples = await self._listed(interaction, lambda backend: backend.sample_prompts())
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
        typed = current.lower()
        return [
            app_commands.Choice(name=_model_label(m)[:100], value=m.model_id)
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
            }
        )
        await start_generation(interaction, prompt=prompt, params=params)

    @workflow.autocomplete("template")
    async def _template_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        typed = current.lower()
        templates = await self._listed(interaction, lambda backend: backend.get_workflow_templates())
        return [
            app_commands.Choice(name=_template_label(t)[:100], value=t.name)
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
        found = await self._deferred_account(interaction)
        if found is None:
            return
        assert interaction.guild_id is not None
        guild_id, user_id, base_url = interaction.guild_id, interaction.user.id, found[0].base_url

        async def link(session_id: str) -> str:
            await self.bot.engine.link_member_account(
                guild_id=guild_id, user_id=user_id, base_url=base_url, session_id=session_id, email=email
            )
            return (
                f"Signed in as {email}. Your /aimg generations in this server now go to your own "
                "AIMG library; /aimg creations lists them. /aimg logout unlinks it."
            )

        await send_sign_in(interaction, base_url, email, link, retry="/aimg login")

    @app_commands.command(name="logout", description="Unlink your own AIMG account from this server.")
    @app_commands.guild_only()
    async def logout(self, interaction: discord.Interaction[Any]) -> None:
        assert interaction.guild_id is not None
        # Signing out at AIMG takes a request: acknowledge first.
        await interaction.response.defer(ephemeral=True, thinking=True)
        unlinked = await self.bot.engine.unlink_member_account(interaction.guild_id, interaction.user.id)
        await interaction.followup.send(_LOGOUT_SENTENCES[unlinked], ephemeral=True)

    # ---------------------------------------------------------------------------- creations

    @app_commands.command(
        name="creations", description="Page through the AIMG library your generations go to."
    )
    @app_commands.guild_only()
    async def creations(self, interaction: discord.Interaction[Any]) -> None:
        found = await self._deferred_account(interaction)
        if found is None:
            return
        whose = "your own account" if found[0].source == MEMBER_SOURCE else "this server's account"
        view = CreationsView(found[1], whose=whose)
        try:
            content, embeds = await view.load()
        except BackendError as exc:
            await interaction.followup.send(exc.user_message, ephemeral=True)
            return
        await interaction.followup.send(content, embeds=embeds, view=view, ephemeral=True)

    # ------------------------------------------------------------------------------- models

    @app_commands.command(name="models", description="List the AIMG models and their limits.")
    @app_commands.guild_only()
    async def models(self, interaction: discord.Interaction[Any]) -> None:
        found = await self._deferred_account(interaction)
        if found is None:
            return
        try:
            models = await found[1].get_models()
        except BackendError as exc:
            await interaction.followup.send(exc.user_message, ephemeral=True)
            return
        lines = [_model_limits(m) for m in models]
        embed = discord.Embed(title="AIMG models", description="\n".join(lines)[:4096])
        await interaction.followup.send(embed=embed, ephemeral=True)


async def _dimensions(interaction: discord.Interaction[Any], size: str | None) -> dict[str, str] | None:
    """``size`` as ``width`` and ``height`` params (none when not given); None, after telling the
    member, when it is not WIDTHxHEIGHT."""
    if size is None:
        return {}
    match = _SIZE.fullmatch(size)
    if match is None:
        await interaction.response.send_message(
            f"Size {size!r} is not WIDTHxHEIGHT (e.g. 512x768); type it that way or pick a suggestion.",
            ephemeral=True,
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
    return f"{template.name} (steps {steps.min}-{steps.max})"


def _model_label(model: AimgModel) -> str:
    """A model as an autocomplete choice: name, media and what the account needs for it."""
    notes = ["video" if model.is_video else "image"]
    if model.min_tier:
        notes.append(f"PRO tier {model.min_tier}")
    if model.registration_wall:
        notes.append("signed-up accounts")
    return f"{model.name} ({', '.join(notes)})"


def _model_limits(model: AimgModel) -> str:
    sizes = f"{'/'.join(map(str, model.allowed_widths))} x {'/'.join(map(str, model.allowed_heights))}"
    variations = ", variations" if model.supports_variations and not model.is_video else ""
    return (
        f"**{discord.utils.escape_markdown(_model_label(model))}** `{model.model_id}`: "
        f"steps {model.min_steps}-{model.max_steps}, CFG {model.min_cfg_scale:g}-{model.max_cfg_scale:g}, "
        f"sizes {sizes} (at most {model.max_resolution} pixels){variations}"
    )


def _creation_card(number: int, item: AimgItem, info: AimgItemDetails | None) -> discord.Embed:
    """One creation: its model as the title (linking the file), its prompt, its votes, and the
    image as a thumbnail (a video has no still to show here). ``info`` None: details unreadable."""
    title = f"{number}. {info.model_name or info.model_id}" if info else f"{number}. {item.mtype}"
    prompt = discord.utils.escape_markdown(info.prompt)[:300] if info and info.prompt else "-"
    card = discord.Embed(title=title[:256], url=item.url or None, description=prompt)
    if item.mtype == "image" and item.url:
        card.set_thumbnail(url=item.url)
    when = f" · <t:{item.completed_date // 1000}:R>" if item.completed_date else ""
    card.add_field(name="Votes", value=f"👍 {item.like_count} 👎 {item.dislike_count}{when}")
    return card


class CreationsView(discord.ui.View):
    """Previous / Next through getMyCreations; the service pages by an opaque index, so the
    indexes of the pages seen so far are kept to go back."""

    def __init__(self, backend: AimgBackend, *, whose: str) -> None:
        super().__init__(timeout=900)
        self.backend, self.whose = backend, whose
        #: The index of each page seen, the first being None; the last is the page shown.
        self.indexes: list[str | None] = [None]
        self.page: AimgPage | None = None

    async def load(self) -> tuple[str, list[discord.Embed]]:
        """Fetch the page ``indexes[-1]``; the message's text and one card per item (prompt,
        model, thumbnail: getMyCreations has no prompt or model, getItemDetails has)."""
        page = await self.backend.get_my_creations(pagination_index=self.indexes[-1], limit=PAGE_SIZE)
        self.page = page
        self.previous.disabled = len(self.indexes) == 1
        self.next.disabled = page.next_pagination_index is None
        if not page.items:
            return "No creations yet: generate something with /aimg generate.", []
        details = await asyncio.gather(*(self._details(item) for item in page.items))
        first = (len(self.indexes) - 1) * PAGE_SIZE
        total = f" of {page.total_count}" if page.total_count is not None else ""
        content = f"**AIMG creations of {self.whose}** ({first + 1}-{first + len(page.items)}{total})"
        cards = [
            _creation_card(first + n, item, info)
            for n, (item, info) in enumerate(zip(page.items, details, strict=True), start=1)
        ]
        return content, cards

    async def _details(self, item: AimgItem) -> AimgItemDetails | None:
        try:
            return await self.backend.get_item_details(item.id)
        except BackendError:
            return None  # its card shows what getMyCreations said

    async def _turn(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer()
        try:
            content, embeds = await self.load()
        except BackendError as exc:
            await interaction.followup.send(exc.user_message, ephemeral=True)
            return
        await interaction.edit_original_response(content=content, embeds=embeds, view=self)

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]) -> None:
        if len(self.indexes) > 1:
            self.indexes.pop()
        await self._turn(interaction)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]) -> None:
        if self.page is not None and self.page.next_pagination_index is not None:
            self.indexes.append(self.page.next_pagination_index)
        await self._turn(interaction)


async def setup(bot: MjBot) -> None:
    await bot.add_cog(Aimg(bot))
