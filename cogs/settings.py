"""/settings: Midjourney's settings panel (TheNextLeg's toggles, docs/backends/thenextleg.md), and
the /fast, /relax, /public and /stealth shortcuts. Green means on, as in the Midjourney bot. The
panel is ephemeral; its buttons are DynamicItems, so a panel left open across a restart still works.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_side import custom_ids
from bot.discord_side.language import member_locale, tell
from bot.domain import SettingsState
from bot.i18n import render, said, tr
from bot.jobs.calls import UserError
from bot.jobs.mj_settings import RESET, TOGGLES, VERSIONS

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot

#: Panel button labels by index (the custom id carries the index, not the label).
PANEL_LABELS: tuple[str, ...] = (*(t.label for t in TOGGLES), RESET)


def panel_content(state: SettingsState, locale: str) -> str:
    where = (
        tr("These settings belong to the server's image service account and apply to everyone using it.")
        if state.source == "backend"
        else tr("These settings are yours in this server; they are added to prompts that do not set them.")
    )
    suffix = f"`{state.suffix}`" if state.suffix else tr("none")
    return render(
        tr("**Adjust your settings here.** Current suffix: {suffix}\n-# {where}", suffix=suffix, where=where),
        locale,
    )


def panel_view(state: SettingsState, locale: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    offered = set(state.available) if state.available else None
    versions = [(v, name) for v, name in VERSIONS.items() if offered is None or name in offered]
    if versions:
        view.add_item(VersionSelectItem(versions, state.active, render(tr("Model version"), locale)))
    buttons = [(i, label) for i, label in enumerate(PANEL_LABELS) if offered is None or label in offered]
    for position, (index, label) in enumerate(buttons):
        on = label in state.active
        style = discord.ButtonStyle.success if on else discord.ButtonStyle.secondary
        view.add_item(ToggleItem(index, render(label, locale), style, row=1 + position // 5))
    return view


async def _redraw(interaction: discord.Interaction[Any], label: str) -> None:
    bot: MjBot = interaction.client
    assert interaction.guild_id is not None and interaction.channel_id is not None
    # A service that keeps settings itself takes seconds to answer: acknowledge first.
    await interaction.response.defer()
    try:
        state = await bot.engine.member.toggle_setting(
            interaction.guild_id, interaction.user.id, interaction.channel_id, label
        )
    except UserError as exc:
        await tell(interaction, said(exc))
        return
    locale = member_locale(interaction)
    await interaction.edit_original_response(
        content=panel_content(state, locale), view=panel_view(state, locale)
    )


class ToggleItem(discord.ui.DynamicItem[discord.ui.Button[Any]], template=custom_ids.TOGGLE):
    def __init__(self, index: int, label: str, style: discord.ButtonStyle, row: int | None = None) -> None:
        button = discord.ui.Button[Any](label=label, style=style, custom_id=custom_ids.toggle(index), row=row)
        super().__init__(button)
        self.index = index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ToggleItem:
        index = int(match["idx"])
        label = PANEL_LABELS[index] if index < len(PANEL_LABELS) else "?"
        return cls(index, label, discord.ButtonStyle.secondary)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        if self.index >= len(PANEL_LABELS):
            await tell(interaction, tr("This panel is out of date. Run /settings again."))
            return
        await _redraw(interaction, PANEL_LABELS[self.index])


class VersionSelectItem(discord.ui.DynamicItem[discord.ui.Select[Any]], template=custom_ids.VERSION):
    def __init__(
        self,
        versions: list[tuple[str, str]] | None = None,
        active: set[str] | None = None,
        placeholder: str = "",
    ) -> None:
        versions = versions or list(VERSIONS.items())
        active = active or set()
        super().__init__(
            discord.ui.Select(
                custom_id=custom_ids.VERSION,
                placeholder=placeholder or None,
                options=[
                    discord.SelectOption(label=name, value=name, default=name in active)
                    for _, name in versions
                ],
                row=0,
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> VersionSelectItem:
        return cls()

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        values = self.item.values
        if not values:
            await interaction.response.defer()
            return
        await _redraw(interaction, values[0])


class Settings(commands.Cog):
    def __init__(self, bot: MjBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ToggleItem, VersionSelectItem)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ToggleItem, VersionSelectItem)

    @app_commands.command(name="settings", description="View and change your Midjourney settings.")
    @app_commands.guild_only()
    async def settings(self, interaction: discord.Interaction[Any]) -> None:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            state = await self.bot.engine.member.settings(
                interaction.guild_id, interaction.user.id, interaction.channel_id
            )
        except UserError as exc:
            await tell(interaction, said(exc))
            return
        locale = member_locale(interaction)
        await tell(interaction, panel_content(state, locale), view=panel_view(state, locale))

    async def _shortcut(self, interaction: discord.Interaction[Any], label: str, sentence: str) -> None:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        ids = (interaction.guild_id, interaction.user.id, interaction.channel_id)
        # A service that keeps settings itself takes seconds to answer: acknowledge first.
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            state = await self.bot.engine.member.settings(*ids)
            if label not in state.active:
                state = await self.bot.engine.member.toggle_setting(*ids, label)
        except UserError as exc:
            await tell(interaction, said(exc))
            return
        suffix = f"`{state.suffix}`" if state.suffix else tr("none")
        await tell(interaction, tr("{sentence} Current suffix: {suffix}", sentence=sentence, suffix=suffix))

    @app_commands.command(name="fast", description="Switch to Fast mode.")
    @app_commands.guild_only()
    async def fast(self, interaction: discord.Interaction[Any]) -> None:
        await self._shortcut(interaction, "Fast mode", tr("Fast mode is on."))

    @app_commands.command(name="relax", description="Switch to Relax mode (slower, no fast hours used).")
    @app_commands.guild_only()
    async def relax(self, interaction: discord.Interaction[Any]) -> None:
        await self._shortcut(interaction, "Relax mode", tr("Relax mode is on."))

    @app_commands.command(name="public", description="Switch to Public mode.")
    @app_commands.guild_only()
    async def public(self, interaction: discord.Interaction[Any]) -> None:
        await self._shortcut(interaction, "Public mode", tr("Public mode is on."))

    @app_commands.command(name="stealth", description="Switch to Stealth mode (needs a Pro plan).")
    @app_commands.guild_only()
    async def stealth(self, interaction: discord.Interaction[Any]) -> None:
        await self._shortcut(interaction, "Stealth mode", tr("Stealth mode is on."))


async def setup(bot: MjBot) -> None:
    await bot.add_cog(Settings(bot))
