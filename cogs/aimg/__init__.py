"""/aimg: generate with AIMG's own options or a workflow template, sign a member's AIMG account in,
list creations and models.

Every subcommand works only where :func:`bot.discord_side.access.aimg_allowed` says so (age-restricted
channels). Generations and workflow runs become GENERATE jobs, shown and tracked like any other
job; model, size and sampler suggestions come from the account's ``getModels``, in the order the
service gives, and template suggestions from its ``2/getAggregatedWorkflowTemplates``.

Also what the result buttons and modals share: the checked start of a generation, "Use these
settings", the item actions (👍 👎 🗑️ 🚩, with the report form) and the one-time-code sign-in.
Everything AIMG answers comes through the engine's AIMG part (``bot.engine.aimg``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.backends.aimg import (
    DEFAULT_REPORT_QUEUE,
    DEFAULT_VIDEO_MODEL,
    WORKFLOW_FIELDS,
    WORKFLOW_PARAM,
    AimgItem,
    AimgItemDetails,
    AimgModel,
    AimgWorkflowTemplate,
    vote_of,
)
from bot.backends.aimg import custom_id as aimg_custom_id
from bot.discord_side import custom_ids
from bot.discord_side.language import for_member, member_locale, tell
from bot.discord_side.replies import defer_job_message, refuse
from bot.domain import MEMBER_SOURCE, Account, BackendError, ErrorKind, Job, JobKind
from bot.i18n import Msg, render, said, tr
from bot.jobs.aimg_items import NO_ACCOUNT, Creations, Unlinked
from bot.jobs.calls import UserError
from bot.jobs.rules import MAX_PROMPT_CHARS
from bot.discord_side.access import AGE_REFUSAL, JobModal, aimg_allowed

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot

#: Items per /aimg creations page.
PAGE_SIZE = 10
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
_DELETE = aimg_custom_id("delete")
_REPORT = aimg_custom_id("report")
#: How long a 🚩 click waits for AIMG's report categories. The form must open within Discord's 3 s
#: to answer; the categories are cached, so only the first click in a while waits at all.
REPORT_QUEUES_WAIT = 2.0
#: Longest report details (a short paragraph for AIMG's moderators).
REPORT_DETAILS_CHARS = 1000


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
            await tell(interaction, _sentence(exc))
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
            await tell(interaction, _sentence(exc))
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


def _sentence(exc: BackendError | UserError) -> str:
    return exc.user_message if isinstance(exc, BackendError) else said(exc)


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


def _creation_card(number: int, item: AimgItem, info: AimgItemDetails | None, locale: str) -> discord.Embed:
    """One creation: its model as the title (linking the file), its prompt, its votes, and the
    image as a thumbnail (a video has no still to show here). ``info`` None: details unreadable."""
    title = f"{number}. {info.model_name or info.model_id}" if info else f"{number}. {item.mtype}"
    prompt = discord.utils.escape_markdown(info.prompt)[:300] if info and info.prompt else "-"
    card = discord.Embed(title=title[:256], url=item.url or None, description=prompt)
    if item.mtype == "image" and item.url:
        card.set_thumbnail(url=item.url)
    when = f" · <t:{item.completed_date // 1000}:R>" if item.completed_date else ""
    card.add_field(
        name=render(tr("Votes"), locale), value=f"👍 {item.like_count} 👎 {item.dislike_count}{when}"
    )
    return card


class CreationsView(discord.ui.View):
    """Previous / Next through getMyCreations; the service pages by an opaque index, so the
    indexes of the pages seen so far are kept to go back."""

    def __init__(self, bot: MjBot, account: Account, locale: str) -> None:
        super().__init__(timeout=900)
        self.bot, self.account, self.locale = bot, account, locale
        self.previous.label = render(tr("Previous"), locale)
        self.next.label = render(tr("Next"), locale)
        #: The index of each page seen, the first being None; the last is the page shown.
        self.indexes: list[str | None] = [None]
        self.shown: Creations | None = None

    async def load(self) -> tuple[str, list[discord.Embed]]:
        """Fetch the page ``indexes[-1]``; the message's text and one card per item (prompt,
        model, thumbnail: getMyCreations has no prompt or model, getItemDetails has)."""
        shown = await self.bot.engine.aimg.creations(self.account, self.indexes[-1], PAGE_SIZE)
        self.shown, page = shown, shown.page
        self.previous.disabled = len(self.indexes) == 1
        self.next.disabled = page.next_pagination_index is None
        if not page.items:
            return render(tr("No creations yet: generate something with /aimg generate."), self.locale), []
        first = (len(self.indexes) - 1) * PAGE_SIZE
        whose = (
            tr("your own account") if self.account.source == MEMBER_SOURCE else tr("this server's account")
        )
        low, high = first + 1, first + len(page.items)
        content = (
            tr("**AIMG creations of {whose}** ({low}-{high})", whose=whose, low=low, high=high)
            if page.total_count is None
            else tr(
                "**AIMG creations of {whose}** ({low}-{high} of {total})",
                whose=whose,
                low=low,
                high=high,
                total=page.total_count,
            )
        )
        cards = [
            _creation_card(first + n, item, info, self.locale)
            for n, (item, info) in enumerate(zip(page.items, shown.details, strict=True), start=1)
        ]
        return render(content, self.locale), cards

    async def _turn(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer()
        try:
            content, embeds = await self.load()
        except (BackendError, UserError) as exc:
            await tell(interaction, _sentence(exc))
            return
        await interaction.edit_original_response(content=content, embeds=embeds, view=self)

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]) -> None:
        if len(self.indexes) > 1:
            self.indexes.pop()
        await self._turn(interaction)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]) -> None:
        following = self.shown.page.next_pagination_index if self.shown is not None else None
        if following is not None:
            self.indexes.append(following)
        await self._turn(interaction)


# ----------------------------------------------------- generations, items and sign-in


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


async def item_action_clicked(interaction: discord.Interaction[Any], job: Job, index: int) -> None:
    """👍, 👎, 🗑️ or 🚩 on a result: act on the item at the service, confirm privately. A deleted
    item's message goes too (the click handler has checked who may: bot/discord_side/access.py). 🚩 first
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
        text = await bot.engine.aimg.item_action(
            job, index, user_id=interaction.user.id, report_queue=report_queue, details=details
        )
    except UserError as exc:
        await tell(interaction, said(exc))
        return
    if job.buttons[index].custom_id == _DELETE and interaction.message is not None:
        await interaction.message.delete()
    elif vote_of(job.buttons[index].custom_id) is not None and interaction.message is not None:
        vote = await bot.engine.aimg.member_vote(job.id, interaction.user.id)
        await bot.publisher.edit_view(job, _show_vote(interaction.message, job, vote))
    await tell(interaction, text)


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
        async with asyncio.timeout(REPORT_QUEUES_WAIT):
            queues = await bot.engine.aimg.report_queues(job, index, interaction.user.id)
    except UserError as exc:
        text = said(exc)
    except BackendError as exc:
        text = exc.user_message
    except TimeoutError:
        text = tr("AIMG did not send its report categories in time. Click 🚩 again in a minute.")
    else:
        await interaction.response.send_modal(ReportModal(job, index, queues, member_locale(interaction)))
        return
    await tell(interaction, text)


class ReportModal(JobModal):
    """🚩: one of AIMG's report categories (getReportQueues) and optional details for its
    moderators; its own words in ``locale`` (the categories are AIMG's, as it names them)."""

    def __init__(self, job: Job, index: int, queues: Sequence[str], locale: str) -> None:
        super().__init__(job, index, title=render(tr("Report this item"), locale))
        # Discord lists 25 options of at most 100 characters; with no category AIMG files the
        # report under its default, so offer that one.
        offered = [q for q in queues if 0 < len(q) <= 100][:25] or [DEFAULT_REPORT_QUEUE]
        self.category: discord.ui.Select[Any] = discord.ui.Select(
            options=[discord.SelectOption(label=q, value=q) for q in offered],
            placeholder=render(tr("What is wrong with it?"), locale),
            min_values=1,
            max_values=1,
        )
        self.details: discord.ui.TextInput[Any] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            placeholder=render(tr("Anything that helps AIMG's moderators."), locale),
            required=False,
            max_length=REPORT_DETAILS_CHARS,
        )
        self.add_item(discord.ui.Label(text=render(tr("Category"), locale), component=self.category))
        self.add_item(discord.ui.Label(text=render(tr("Details (optional)"), locale), component=self.details))

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
        session_id = await bot.engine.aimg.start_sign_in(interaction.guild_id, base_url, email)
    except BackendError as exc:
        await tell(interaction, exc.user_message)
        return
    pending = PendingSignIn(interaction.guild_id, base_url, session_id, email)
    locale = member_locale(interaction)
    await tell(
        interaction,
        tr("AIMG sent a one-time code to {email}. Click **Enter code** to finish signing in.", email=email),
        view=OtpView(pending, owner_id=interaction.user.id, finish=finish, retry=retry, locale=locale),
    )


@dataclass(frozen=True)
class PendingSignIn:
    """A session waiting for its one-time code (its id is a credential: never shown)."""

    guild_id: int
    base_url: str
    session_id: str = field(repr=False)
    email: str


class OtpView(discord.ui.View):
    """The "Enter code" button of a pending sign-in (a modal cannot follow a deferred command)."""

    def __init__(
        self, pending: PendingSignIn, *, owner_id: int, finish: SignedIn, retry: str, locale: str
    ) -> None:
        super().__init__(timeout=900)
        self.pending, self.owner_id = pending, owner_id
        self.finish, self.retry = finish, retry
        self.enter.label = render(tr("Enter code"), locale)

    @discord.ui.button(label="Enter code", style=discord.ButtonStyle.primary)
    async def enter(self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]) -> None:
        await interaction.response.send_modal(OtpModal(self, member_locale(interaction)))


class OtpModal(discord.ui.Modal):
    def __init__(self, sign_in: OtpView, locale: str) -> None:
        super().__init__(title=render(tr("Sign in to AIMG"), locale), timeout=900)
        self.sign_in = sign_in
        self.code: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label=render(tr("One-time code"), locale), min_length=4, max_length=12
        )
        # The answer is checked as YES in every language (the label says so).
        self.adult: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label=render(tr("I am 18 or older (type YES)"), locale), max_length=3
        )
        self.add_item(self.code)
        self.add_item(self.adult)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        if self.adult.value.strip().lower() != "yes":
            await tell(
                interaction,
                tr(
                    "AIMG is for adults only: the account was not linked. "
                    "Type YES only if you are 18 or older."
                ),
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot: MjBot = interaction.client
        view, pending = self.sign_in, self.sign_in.pending
        try:
            session_id = await bot.engine.aimg.finish_sign_in(
                pending.guild_id, pending.base_url, pending.session_id, pending.email, self.code.value.strip()
            )
            text = await view.finish(session_id)
        except BackendError as exc:
            # A wrong code leaves the code request standing: the member may type it again.
            text = (
                tr("That one-time code is wrong or has expired. Click **Enter code** to type it again.")
                if exc.kind is ErrorKind.INVALID_INPUT
                else tr(
                    "{sentence} Run {command} again for a new code.",
                    sentence=exc.user_message,
                    command=view.retry,
                )
            )
            await tell(interaction, text)
            return
        except UserError as exc:
            await tell(interaction, said(exc))
            return
        view.stop()
        await tell(interaction, text)


async def setup(bot: MjBot) -> None:
    await bot.add_cog(Aimg(bot))
