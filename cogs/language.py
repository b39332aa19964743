"""Which language a Discord answer is in (docs/i18n.md), and the slash commands' translations.

A private answer is in the member's language (``interaction.locale``), else the server's
(``guild_locale``), else English; a message the whole channel sees is in the server's.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.i18n import NAME_CONTEXT, render, translate

_NAMES = frozenset(
    {
        app_commands.TranslationContextLocation.command_name,
        app_commands.TranslationContextLocation.group_name,
        app_commands.TranslationContextLocation.parameter_name,
    }
)


def for_member(interaction: discord.Interaction[Any], text: str) -> str:
    """``text`` as the member who made ``interaction`` reads it (an ephemeral answer)."""
    return render(text, _value(interaction.locale), _value(interaction.guild_locale))


def for_channel(interaction: discord.Interaction[Any], text: str) -> str:
    """``text`` as everyone in the interaction's channel reads it (the server's language)."""
    return render(text, _value(interaction.guild_locale))


def _value(locale: discord.Locale | None) -> str | None:
    return locale.value if locale is not None else None


class CatalogTranslator(app_commands.Translator):
    """Command, group, option and choice names and descriptions from the message catalogs: names
    under their own context (Discord's name rules), the rest by their English text."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        named = context.location in _NAMES
        return translate(string.message, locale.value, context=NAME_CONTEXT if named else None)
